"""IEEE 11073-20601 manager state machine, transport-independent: APDU bytes in, answers and readings out.

    mgr = PhdManager()
    step = mgr.handle(apdu_bytes)          # -> ManagerStep
    for out in step.responses: transport.send(out)
    store(step.observations)               # canonical Observation records (patient_id left empty)

States: unassociated -> (AARQ) -> configuring | operating -> (RLRQ/ABRT) -> unassociated.
- AARQ with a known dev-config-id (standard, or extended and remembered for this system id): AARE
  accepted (0) and operating. Unknown: AARE accepted-unknown-config (3), then the agent's config report
  (event 0x0D1C) is parsed, confirmed (config-result accepted) and, when extended (>= 0x4000),
  remembered per device system id so the next association skips it.
- Scan reports fixed (0x0D1D), var (0x0D1E), multi-person (0x0D1F/0x0D20) and their unbuffered/buffered
  variants decode with the configuration's Attribute-Value-Map into Observations; grouped reports
  (0x0D24/0x0D2A, multi-person 0x0D27/0x0D2D) are split by the reporting scanner's
  Scan-Handle-Attr-Val-Map from the configuration. Every confirmed report is answered with a RORS echoing
  the invoke id; an event type still not decoded (e.g. segment data) is an `unhandled-event` naming it.
- RLRQ is answered with RLRE; ABRT drops the association. A PRST while unassociated is answered with ABRT.
- Malformed bytes raise DeviceCodecError; the caller should then send `abort()` and drop the link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum

from renkei.devices import ieee11073 as p
from renkei.devices import nomenclature as mdc
from renkei.devices import phd_reports as rep
from renkei.devices.errors import DeviceCodecError
from renkei.devices.mder import Reader
from renkei.devices.phd_configs import STANDARD_CONFIGS, Configuration, MetricObject
from renkei.devices.phd_observations import metric_observations
from renkei.records import Observation

DEFAULT_MANAGER_SYSTEM_ID = bytes.fromhex("52454E4B45490001")  # "RENKEI" 00 01


class ManagerState(StrEnum):
    UNASSOCIATED = "unassociated"
    CONFIGURING = "configuring"  # AARE accepted-unknown-config sent, waiting for the config report
    OPERATING = "operating"
    DISASSOCIATING = "disassociating"  # we sent RLRQ, waiting for RLRE


@dataclass(slots=True)
class ManagerEvent:
    """Something the operator may want to see: kind plus JSON-able details (ids only, no patient data)."""

    kind: str  # associated, association-rejected, config-accepted, config-rejected, report, released, aborted, …
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class ManagerStep:
    apdu: p.Apdu
    responses: list[bytes] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    events: list[ManagerEvent] = field(default_factory=list)


class PhdManager:
    """One manager side of one link (one agent at a time). Not thread-safe; one instance per link."""

    def __init__(
        self,
        *,
        system_id: bytes = DEFAULT_MANAGER_SYSTEM_ID,
        extended_configs: dict[str, dict[int, Configuration]] | None = None,
        device_tz: tzinfo | None = None,
    ) -> None:
        self.system_id = system_id
        # the device's time zone: absolute device times (wall clock, no zone on the wire) get it; None
        # leaves them naive for the caller to place
        self.device_tz = device_tz
        # (relative time, absolute time) read together from the MDS: places relative time stamps
        self.mds_clock: tuple[int, datetime] | None = None
        # the device's own clock (MDS Absolute-Time, "Date-and-Time") as read by a GET of the MDS, and the
        # invoke id of that GET while its answer is awaited
        self.device_clock: datetime | None = None
        self.mds_get_invoke: int | None = None
        # (handle, byte offset) of objects the last report named but the configuration lacks
        self.unknown_handles: list[tuple[int, int]] = []
        # device system id (hex) -> config id -> configuration; share one dict between managers to
        # remember extended configurations across links
        self.extended_configs: dict[str, dict[int, Configuration]] = (
            extended_configs if extended_configs is not None else {}
        )
        self.state = ManagerState.UNASSOCIATED
        self.device_id = ""
        self.config: Configuration | None = None
        self._pending_config_id = 0
        self._invoke_id = 0

    # ------------------------------------------------------------------ manager-initiated APDUs

    def abort(self, reason: int = p.AbortReason.UNDEFINED) -> bytes:
        self._reset()
        return p.encode_apdu(p.Abrt(reason))

    def release(self) -> bytes:
        self.state = ManagerState.DISASSOCIATING
        return p.encode_apdu(p.Rlrq(p.ReleaseReason.NORMAL))

    def get_mds_attributes(self) -> bytes:
        """GET on the MDS (handle 0) with an empty list: the agent answers with all MDS attributes."""
        self._invoke_id = (self._invoke_id + 1) & 0xFFFF
        self.mds_get_invoke = self._invoke_id
        return p.encode_apdu(p.Prst(self._invoke_id, p.Get(0, [])))

    def answers_mds_get(self, apdu: p.Apdu) -> bool:
        """Whether `apdu` is the agent's answer (result, error or reject) to our pending GET of the MDS."""
        return (
            isinstance(apdu, p.Prst)
            and self.mds_get_invoke is not None
            and apdu.invoke_id == self.mds_get_invoke
            and isinstance(apdu.message, p.GetResult | p.ErrorResult | p.RejectResult)
        )

    # ------------------------------------------------------------------ input

    def handle(self, data: bytes, base: int = 0) -> ManagerStep:
        """Decode one APDU from the agent and react to it; `base` offsets error messages."""
        return self.handle_apdu(p.decode_apdu(data, base))

    def handle_apdu(self, apdu: p.Apdu) -> ManagerStep:
        step = ManagerStep(apdu)
        if isinstance(apdu, p.Aarq):
            self._on_aarq(apdu, step)
        elif isinstance(apdu, p.Prst):
            self._on_prst(apdu, step)
        elif isinstance(apdu, p.Rlrq):
            step.responses.append(p.encode_apdu(p.Rlre(p.ReleaseReason.NORMAL)))
            step.events.append(ManagerEvent("released", {"device_id": self.device_id, **p.reason_detail(apdu)}))
            self._reset()
        elif isinstance(apdu, p.Rlre):
            if self.state == ManagerState.DISASSOCIATING:
                step.events.append(ManagerEvent("released", {"device_id": self.device_id, **p.reason_detail(apdu)}))
                self._reset()
            else:
                step.events.append(
                    ManagerEvent("ignored", {"apdu": "RLRE", "state": self.state.value, **p.reason_detail(apdu)})
                )
        elif isinstance(apdu, p.Abrt):
            step.events.append(ManagerEvent("aborted", {"device_id": self.device_id, **p.reason_detail(apdu)}))
            self._reset()
        else:  # AARE: only managers send it; seen when replaying a recorded exchange
            step.events.append(ManagerEvent("ignored", {"apdu": p.apdu_name(apdu), "state": self.state.value}))
        return step

    def _reset(self) -> None:
        self.state = ManagerState.UNASSOCIATED
        self.config = None
        self.mds_clock = None
        self.device_clock = None
        self.mds_get_invoke = None

    def _aare(self, result: int) -> bytes:
        if result in (p.AssociateResult.ACCEPTED, p.AssociateResult.ACCEPTED_UNKNOWN_CONFIG):
            info = p.PhdAssociationInfo(
                system_id=self.system_id,
                dev_config_id=0,
                system_type=p.SYS_TYPE_MANAGER,
                data_req_mode_flags=0,
                data_req_init_agent_count=0,
                data_req_init_manager_count=0,
            )
            proto = p.DataProto(p.DATA_PROTO_ID_20601, info)
        else:
            proto = p.DataProto(0, b"")
        return p.encode_apdu(p.Aare(result, proto))

    def _on_aarq(self, aarq: p.Aarq, step: ManagerStep) -> None:
        if self.state != ManagerState.UNASSOCIATED:
            step.events.append(ManagerEvent("aborted", {"reason": "AARQ while associated"}))
            step.responses.append(self.abort())
            return
        info = next(
            (
                d.info
                for d in aarq.protocols
                if d.proto_id == p.DATA_PROTO_ID_20601 and isinstance(d.info, p.PhdAssociationInfo)
            ),
            None,
        )
        result: int
        if not aarq.assoc_version & p.ASSOC_VERSION_1:
            result = p.AssociateResult.REJECTED_UNSUPPORTED_ASSOC_VERSION
        elif info is None:
            result = p.AssociateResult.REJECTED_NO_COMMON_PROTOCOL
        elif not info.encoding_rules & p.ENCODING_MDER or not info.protocol_version & 0xE0000000:
            result = p.AssociateResult.REJECTED_NO_COMMON_PARAMETER
        else:
            self.device_id = info.system_id.hex().upper()
            config = STANDARD_CONFIGS.get(info.dev_config_id) or self.extended_configs.get(self.device_id, {}).get(
                info.dev_config_id
            )
            if config is not None:
                result = p.AssociateResult.ACCEPTED
                self.config = config
                self.state = ManagerState.OPERATING
            else:
                result = p.AssociateResult.ACCEPTED_UNKNOWN_CONFIG
                self._pending_config_id = info.dev_config_id
                self.state = ManagerState.CONFIGURING
        step.responses.append(self._aare(result))
        detail: dict[str, object] = {"result": int(result), "result_name": p.AssociateResult(result).name.lower()}
        if info is not None:
            detail.update(device_id=info.system_id.hex().upper(), dev_config_id=info.dev_config_id)
        kind = "associated" if self.state != ManagerState.UNASSOCIATED else "association-rejected"
        step.events.append(ManagerEvent(kind, detail))

    def _on_prst(self, prst: p.Prst, step: ManagerStep) -> None:
        m = prst.message
        if self.state == ManagerState.UNASSOCIATED:
            step.events.append(ManagerEvent("aborted", {"reason": "PRST while unassociated"}))
            step.responses.append(self.abort())
            return
        if isinstance(m, p.EventReport):
            self._on_event_report(prst.invoke_id, m, step)
        elif isinstance(m, p.GetResult):
            attrs = {f"0x{a.attribute_id:04X}": a.value.hex().upper() for a in m.attributes}
            if m.obj_handle == 0:
                self._learn_mds_clock(m.attributes)
            step.events.append(ManagerEvent("mds-attributes", {"obj_handle": m.obj_handle, "attributes": attrs}))
        elif isinstance(m, p.Get | p.Set | p.Action):
            if not isinstance(m, p.Set | p.Action) or m.confirmed:
                rorj = p.RejectResult(p.RejectProblem.UNRECOGNIZED_OPERATION)
                step.responses.append(p.encode_apdu(p.Prst(prst.invoke_id, rorj)))
            step.events.append(ManagerEvent("rejected", {"message": type(m).__name__}))
        else:  # responses and errors to our own invocations
            step.events.append(ManagerEvent("response", {"message": type(m).__name__, "invoke_id": prst.invoke_id}))

    def _learn_mds_clock(self, attributes: list[rep.Ava]) -> None:
        found = {a.attribute_id: a for a in attributes}
        abs_a, rel_a = found.get(mdc.MDC_ATTR_TIME_ABS), found.get(mdc.MDC_ATTR_TIME_REL)
        when = rep.ava_value(abs_a) if abs_a is not None else None
        if not isinstance(when, datetime):
            return
        # wall time on the device's clock (no zone on the wire): the device's zone when we know it
        self.device_clock = when if when.tzinfo is not None or self.device_tz is None else when.replace(
            tzinfo=self.device_tz
        )
        rel = rep.ava_value(rel_a) if rel_a is not None else None
        if isinstance(rel, int):
            self.mds_clock = (rel, when)

    def _confirm(self, invoke_id: int, m: p.EventReport, reply: rep.ConfigReportRsp | bytes = b"") -> bytes:
        return p.encode_apdu(p.Prst(invoke_id, p.EventReportResult(m.obj_handle, m.event_type, reply)))

    def _on_event_report(self, invoke_id: int, m: p.EventReport, step: ManagerStep) -> None:
        if isinstance(m.info, rep.ConfigReport):
            self._on_config(invoke_id, m, m.info, step)
            return
        if isinstance(m.info, bytes):
            step.events.append(ManagerEvent("unhandled-event", {"event_type": m.event_type}))
            if m.confirmed:
                step.responses.append(self._confirm(invoke_id, m))
            return
        if self.state != ManagerState.OPERATING or self.config is None:
            # judgement: a data report before the configuration is agreed cannot be read; tell the agent
            err = p.ErrorResult(p.ErrorValue.NOT_ALLOWED_BY_OBJECT)
            step.responses.append(p.encode_apdu(p.Prst(invoke_id, err)))
            step.events.append(ManagerEvent("report-refused", {"state": self.state.value}))
            return
        step.observations.extend(self.observations_from(m.info, self.config, scanner=m.obj_handle))
        if self.unknown_handles:
            detail = {
                "config_id": self.config.config_id,
                "handles": [h for h, _ in self.unknown_handles],
                "offsets": [at for _, at in self.unknown_handles],
            }
            step.events.append(ManagerEvent("unknown-object-handles", detail))
        step.events.append(
            ManagerEvent(
                "report",
                {"device_id": self.device_id, "event_type": m.event_type, "observations": len(step.observations)},
            )
        )
        if m.confirmed:
            step.responses.append(self._confirm(invoke_id, m))

    def _on_config(self, invoke_id: int, m: p.EventReport, report: rep.ConfigReport, step: ManagerStep) -> None:
        try:
            config = Configuration.from_config_report(report)
        except DeviceCodecError as exc:
            rsp = rep.ConfigReportRsp(report.config_report_id, rep.ConfigResult.UNSUPPORTED)
            step.responses.append(self._confirm(invoke_id, m, rsp))
            step.events.append(
                ManagerEvent("config-rejected", {"config_id": report.config_report_id, "reason": exc.reason})
            )
            return
        self.config = config
        self.state = ManagerState.OPERATING
        if config.extended:
            self.extended_configs.setdefault(self.device_id, {})[config.config_id] = config
        rsp = rep.ConfigReportRsp(report.config_report_id, rep.ConfigResult.ACCEPTED)
        step.responses.append(self._confirm(invoke_id, m, rsp))
        step.events.append(
            ManagerEvent(
                "config-accepted",
                {"device_id": self.device_id, "config_id": config.config_id, "objects": len(config.objects)},
            )
        )

    # ------------------------------------------------------------------ reports -> observations

    def observations_from(
        self, info: rep.EventInfo, config: Configuration, *, scanner: int | None = None
    ) -> list[Observation]:
        """Observations of one scan report read with `config` (usable without an association).

        `scanner` is the reporting object's handle (the event report's obj-handle): grouped reports need it.
        """
        out: list[Observation] = []
        self.unknown_handles = []
        if isinstance(info, rep.ScanReportFixed):
            for o in info.observations:
                out += self._fixed(o, config, None)
        elif isinstance(info, rep.ScanReportVar):
            for v in info.observations:
                out += self._var(v, config, None)
        elif isinstance(info, rep.ScanReportMPFixed):
            for person in info.persons:
                for o in person.observations:
                    out += self._fixed(o, config, person.person_id)
        elif isinstance(info, rep.ScanReportMPVar):
            for pv in info.persons:
                for v in pv.observations:
                    out += self._var(v, config, pv.person_id)
        elif isinstance(info, rep.ScanReportGrouped):
            for g in info.groups:
                out += self._grouped(g, config, scanner, None)
        elif isinstance(info, rep.ScanReportMPGrouped):
            for pg in info.persons:
                out += self._grouped(pg.group, config, scanner, pg.person_id)
        return out

    def _grouped(
        self, g: rep.ObservationGrouped, config: Configuration, scanner: int | None, person: int | None
    ) -> list[Observation]:
        layout = config.scanners.get(scanner) if scanner is not None else None
        if layout is None:
            raise DeviceCodecError(
                f"grouped scan report from object handle {scanner}: configuration 0x{config.config_id:04X}"
                " has no scanner with a Scan-Handle-Attr-Val-Map for it",
                g.offset,
            )
        need = sum(n for _h, avm in layout for _a, n in avm)
        if len(g.data) != need:
            raise DeviceCodecError(
                f"obs-scan-grouped is {len(g.data)} bytes, scanner {scanner}'s handle-attribute-value map needs {need}",
                g.offset - 2,
            )
        out: list[Observation] = []
        pos = 0
        for handle, avm in layout:
            obj = self._object(config, handle, g.offset + pos)
            values: dict[int, object] = {}
            for attr_id, n in avm:
                values[attr_id] = rep.decode_attribute_value(attr_id, Reader(g.data, g.offset, pos, pos + n))
                pos += n
            out += self._to_observations(obj, values, person)
        return out

    def _object(self, config: Configuration, handle: int, offset: int) -> MetricObject:
        obj = config.objects.get(handle)
        if obj is None:
            raise DeviceCodecError(
                f"scan report names object handle {handle}, not in configuration 0x{config.config_id:04X}", offset
            )
        return obj

    def _known(self, config: Configuration, handle: int, offset: int) -> MetricObject | None:
        """A fixed/var report's object, or None for a handle the configuration lacks (noted, then skipped:
        the report's other observations are still read)."""
        obj = config.objects.get(handle)
        if obj is None:
            self.unknown_handles.append((handle, offset))
        return obj

    def _fixed(self, o: rep.ObservationFixed, config: Configuration, person: int | None) -> list[Observation]:
        obj = self._known(config, o.obj_handle, o.offset - 4)
        if obj is None:
            return []
        if len(o.data) != obj.fixed_length:
            raise DeviceCodecError(
                f"obs-val-data of handle {o.obj_handle} is {len(o.data)} bytes,"
                f" its attribute-value map needs {obj.fixed_length}",
                o.offset - 2,
            )
        values: dict[int, object] = {}
        pos = 0
        for attr_id, n in obj.attr_val_map:
            values[attr_id] = rep.decode_attribute_value(attr_id, Reader(o.data, o.offset - 0, pos, pos + n))
            pos += n
        return self._to_observations(obj, values, person)

    def _var(self, v: rep.ObservationVar, config: Configuration, person: int | None) -> list[Observation]:
        obj = self._known(config, v.obj_handle, v.offset)
        if obj is None:
            return []
        values = {a.attribute_id: rep.ava_value(a, v.offset) for a in v.attributes}
        return self._to_observations(obj, values, person)

    def _to_observations(self, obj: MetricObject, values: dict[int, object], person: int | None) -> list[Observation]:
        return metric_observations(obj, values, person, self.device_id, self.device_tz, self.mds_clock)

    # ------------------------------------------------------------------ persistence of learnt configs

    def export_extended_configs(self) -> dict[str, dict[str, str]]:
        """{device id: {config id hex: config report hex}} for a store; see `import_extended_configs`."""
        return {
            dev: {
                f"{cid:04X}": rep.encode_event_info(cfg.report).hex().upper() for cid, cfg in cfgs.items() if cfg.report
            }
            for dev, cfgs in self.extended_configs.items()
        }

    def import_extended_configs(self, data: dict[str, dict[str, str]]) -> None:
        for dev, cfgs in data.items():
            for hex_report in cfgs.values():
                report = rep.decode_config_report(Reader(bytes.fromhex(hex_report)))
                self.extended_configs.setdefault(dev, {})[report.config_report_id] = Configuration.from_config_report(
                    report
                )

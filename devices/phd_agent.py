"""IEEE 11073-20601 agent side: the bytes a real device sends, for simulators and tests.

    agent = PhdAgent("blood-pressure", system_id=bytes.fromhex("0011223344556677"))
    agent.aarq()                                        # AARQ with dev-config-id 0x02BC
    agent.fixed_report({"bp": (120, 80, 93), "pulse": 72}, when=datetime(2024, 5, 1, 7, 30))
    agent.handle(aare_bytes)                            # -> [config report] when the manager asked for it

Pass `config_id=0x4000` (or higher) to announce the specialization's objects as an extended
configuration: the manager then answers accepted-unknown-config and `handle()` sends the config report.
Values are numbers or decimal text ("36.5" keeps its precision), or "NaN"/"NRes"/"+INF"/"-INF".
A GET of the MDS (handle 0) is answered with the MDS attributes: System-Id, Dev-Configuration-Id and,
when the agent has a `clock` (a callable giving the device's wall time, naive), Absolute-Time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from renkei.devices import ieee11073 as p
from renkei.devices import nomenclature as mdc
from renkei.devices import phd_reports as rep
from renkei.devices.mder import Writer
from renkei.devices.phd_configs import SPECIALIZATION_CONFIG_IDS, STANDARD_CONFIGS, Configuration


class PhdAgent:
    """Agent-side encoder with an invoke-id counter and a minimal reaction to the manager's answers."""

    def __init__(
        self,
        config: Configuration | str,
        system_id: bytes,
        *,
        config_id: int | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if isinstance(config, str):
            config = STANDARD_CONFIGS[SPECIALIZATION_CONFIG_IDS[config]]
        if config_id is not None and config_id != config.config_id:
            config = config.with_id(config_id)
        if len(system_id) != 8:
            raise ValueError("an IEEE 11073 system id is 8 bytes (EUI-64)")
        self.config = config
        self.system_id = system_id
        self.invoke_id = 0
        self.scan_report_no = 0
        self.associated = False
        self.clock = clock  # the device's own clock (wall time, no zone); None: a device without one

    def mds_attributes(self) -> list[rep.Ava]:
        """The MDS attributes a GET of handle 0 returns: System-Id, Dev-Configuration-Id, Absolute-Time."""
        out = [
            rep.Ava(mdc.MDC_ATTR_SYS_ID, Writer().octet_string(self.system_id).bytes()),
            rep.Ava(mdc.MDC_ATTR_DEV_CONFIG_ID, Writer().u16(self.config.config_id).bytes()),
        ]
        if self.clock is not None:
            now = self.clock()
            out.append(rep.Ava(mdc.MDC_ATTR_TIME_ABS, rep.encode_attribute_value(mdc.MDC_ATTR_TIME_ABS, now)))
        return out

    def _next_invoke(self) -> int:
        inv = self.invoke_id
        self.invoke_id = (self.invoke_id + 1) & 0xFFFF
        return inv

    def aarq(self) -> bytes:
        info = p.PhdAssociationInfo(system_id=self.system_id, dev_config_id=self.config.config_id)
        return p.encode_apdu(p.Aarq([p.DataProto(p.DATA_PROTO_ID_20601, info)]))

    def config_report(self) -> bytes:
        assert self.config.report is not None
        report = rep.ConfigReport(self.config.config_id, self.config.report.objects)
        msg = p.EventReport(0, mdc.MDC_NOTI_CONFIG, report, 0xFFFFFFFF, True)
        return p.encode_apdu(p.Prst(self._next_invoke(), msg))

    def _obs_data(self, handle: int, value: object, when: datetime | None, status: int) -> bytes:
        obj = self.config.objects[handle]
        out = b""
        for attr_id, n in obj.attr_val_map:
            if attr_id in (mdc.MDC_ATTR_TIME_STAMP_ABS, mdc.MDC_ATTR_TIME_ABS):
                v: object = when
            elif attr_id == mdc.MDC_ATTR_MSMT_STAT:
                v = status
            elif attr_id == mdc.MDC_ATTR_UNIT_CODE:
                v = obj.unit_code or 0
            else:
                v = value
            enc = rep.encode_attribute_value(attr_id, v)
            if len(enc) != n:
                raise ValueError(
                    f"handle {handle}: attribute 0x{attr_id:04X} encodes to {len(enc)} bytes, map says {n}"
                )
            out += enc
        return out

    def _handle_of(self, key: str | int) -> int:
        handle = self.config.names[key] if isinstance(key, str) else key
        if handle not in self.config.objects:
            raise KeyError(f"configuration 0x{self.config.config_id:04X} has no object {key!r}")
        return handle

    def fixed_report(
        self,
        values: Mapping[str | int, object],
        when: datetime | None,
        *,
        status: Mapping[str | int, int] | None = None,
        confirmed: bool = True,
    ) -> bytes:
        """Confirmed fixed-format scan report (0x0D1D) of `values` keyed by name ("bp") or handle."""
        status = status or {}
        observations = []
        for key, value in values.items():
            handle = self._handle_of(key)
            data = self._obs_data(handle, value, when, status.get(key, 0))
            observations.append(rep.ObservationFixed(handle, data))
        info = rep.ScanReportFixed(p.DATA_REQ_ID_AGENT_INITIATED, self.scan_report_no, observations)
        self.scan_report_no = (self.scan_report_no + 1) & 0xFFFF
        msg = p.EventReport(0, mdc.MDC_NOTI_SCAN_REPORT_FIXED, info, 0xFFFFFFFF, confirmed)
        return p.encode_apdu(p.Prst(self._next_invoke(), msg))

    def mp_fixed_report(self, persons: Mapping[int, Mapping[str | int, object]], when: datetime | None) -> bytes:
        """Multi-person fixed scan report (0x0D1F): {person id: {name or handle: value}}."""
        plist = [
            rep.PersonFixed(
                pid,
                [
                    rep.ObservationFixed(self._handle_of(k), self._obs_data(self._handle_of(k), v, when, 0))
                    for k, v in vals.items()
                ],
            )
            for pid, vals in persons.items()
        ]
        info = rep.ScanReportMPFixed(p.DATA_REQ_ID_AGENT_INITIATED, self.scan_report_no, plist)
        self.scan_report_no = (self.scan_report_no + 1) & 0xFFFF
        msg = p.EventReport(0, mdc.MDC_NOTI_SCAN_REPORT_MP_FIXED, info, 0xFFFFFFFF, True)
        return p.encode_apdu(p.Prst(self._next_invoke(), msg))

    def rlrq(self) -> bytes:
        return p.encode_apdu(p.Rlrq(p.ReleaseReason.NORMAL))

    def abrt(self, reason: int = p.AbortReason.UNDEFINED) -> bytes:
        self.associated = False
        return p.encode_apdu(p.Abrt(reason))

    def handle(self, data: bytes) -> list[bytes]:
        """React to a manager APDU: AARE accepted-unknown-config -> config report; RLRQ -> RLRE; GET of the
        MDS -> its attributes."""
        apdu = p.decode_apdu(data)
        if isinstance(apdu, p.Aare):
            self.associated = apdu.result in (p.AssociateResult.ACCEPTED, p.AssociateResult.ACCEPTED_UNKNOWN_CONFIG)
            if apdu.result == p.AssociateResult.ACCEPTED_UNKNOWN_CONFIG:
                return [self.config_report()]
        elif isinstance(apdu, p.Rlrq):
            self.associated = False
            return [p.encode_apdu(p.Rlre(p.ReleaseReason.NORMAL))]
        elif isinstance(apdu, p.Prst) and isinstance(apdu.message, p.Get):
            if apdu.message.obj_handle != 0:  # only the MDS answers here: no such object
                err = p.ErrorResult(p.ErrorValue.NO_SUCH_OBJECT_INSTANCE)
                return [p.encode_apdu(p.Prst(apdu.invoke_id, err))]
            result = p.GetResult(0, self.mds_attributes())
            return [p.encode_apdu(p.Prst(apdu.invoke_id, result))]
        elif isinstance(apdu, p.Rlre | p.Abrt):
            self.associated = False
        return []

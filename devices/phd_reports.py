"""IEEE 11073-20601 event-info and attribute structures: AVA lists, config reports, scan reports.

    ConfigReport      (event 0x0D1C)  config-report-id + ConfigObject list (class, handle, attributes)
    ConfigReportRsp   (reply to it)   config-report-id + config-result
    ScanReportFixed   (0x0D1D, and unbuffered/buffered 0x0D23/0x0D29)  handle + obs-val-data per AVM
    ScanReportVar     (0x0D1E, 0x0D22, 0x0D28)                          handle + attribute list
    ScanReportMPFixed (0x0D1F, 0x0D26, 0x0D2C) / ScanReportMPVar (0x0D20, 0x0D25, 0x0D2B): per person-id
    ScanReportGrouped (0x0D24, 0x0D2A) / ScanReportMPGrouped (0x0D27, 0x0D2D): a scanner's values as one
                      octet string per scan, laid out by the scanner's Scan-Handle-Attr-Val-Map (the
                      configuration); the event's obj-handle names the scanner

Attribute values (SFLOAT/FLOAT numbers, compound lists, time stamps, status bits, TYPE, AVM …) are decoded
by `phd_attributes` (re-exported here); `ava_value(ava)` decodes one AVA's value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from renkei.devices import nomenclature as mdc
from renkei.devices.mder import Reader, Writer
from renkei.devices.phd_attributes import (  # attribute values live there; names kept here for callers
    NuObsValue,
    TypeId,
    decode_attribute_value,
    encode_attribute_value,
    encode_handle_attr_val_map,
)

MDC_NOTI_CONFIG = mdc.MDC_NOTI_CONFIG

FIXED_EVENTS = {
    mdc.MDC_NOTI_SCAN_REPORT_FIXED,
    mdc.MDC_NOTI_UNBUF_SCAN_REPORT_FIXED,
    mdc.MDC_NOTI_BUF_SCAN_REPORT_FIXED,
}
VAR_EVENTS = {mdc.MDC_NOTI_SCAN_REPORT_VAR, mdc.MDC_NOTI_UNBUF_SCAN_REPORT_VAR, mdc.MDC_NOTI_BUF_SCAN_REPORT_VAR}
MP_FIXED_EVENTS = {
    mdc.MDC_NOTI_SCAN_REPORT_MP_FIXED,
    mdc.MDC_NOTI_UNBUF_SCAN_REPORT_MP_FIXED,
    mdc.MDC_NOTI_BUF_SCAN_REPORT_MP_FIXED,
}
MP_VAR_EVENTS = {
    mdc.MDC_NOTI_SCAN_REPORT_MP_VAR,
    mdc.MDC_NOTI_UNBUF_SCAN_REPORT_MP_VAR,
    mdc.MDC_NOTI_BUF_SCAN_REPORT_MP_VAR,
}

GROUPED_EVENTS = {mdc.MDC_NOTI_UNBUF_SCAN_REPORT_GROUPED, mdc.MDC_NOTI_BUF_SCAN_REPORT_GROUPED}
MP_GROUPED_EVENTS = {mdc.MDC_NOTI_UNBUF_SCAN_REPORT_MP_GROUPED, mdc.MDC_NOTI_BUF_SCAN_REPORT_MP_GROUPED}


class ConfigResult:
    ACCEPTED = 0
    UNSUPPORTED = 1
    STANDARD_CONFIG_UNKNOWN = 2


@dataclass(slots=True)
class Ava:
    """An attribute-value assertion: attribute id + its MDER-encoded value."""

    attribute_id: int
    value: bytes


@dataclass(slots=True)
class ConfigObject:
    obj_class: int
    obj_handle: int
    attributes: list[Ava] = field(default_factory=list)


@dataclass(slots=True)
class ConfigReport:
    config_report_id: int
    objects: list[ConfigObject] = field(default_factory=list)


@dataclass(slots=True)
class ConfigReportRsp:
    config_report_id: int
    config_result: int = ConfigResult.ACCEPTED


@dataclass(slots=True)
class ObservationFixed:
    obj_handle: int
    data: bytes
    offset: int = 0  # absolute offset of `data` in the input, for precise errors later


@dataclass(slots=True)
class ObservationVar:
    obj_handle: int
    attributes: list[Ava]
    offset: int = 0


@dataclass(slots=True)
class ScanReportFixed:
    data_req_id: int
    scan_report_no: int
    observations: list[ObservationFixed] = field(default_factory=list)


@dataclass(slots=True)
class ScanReportVar:
    data_req_id: int
    scan_report_no: int
    observations: list[ObservationVar] = field(default_factory=list)


@dataclass(slots=True)
class PersonFixed:
    person_id: int
    observations: list[ObservationFixed] = field(default_factory=list)


@dataclass(slots=True)
class PersonVar:
    person_id: int
    observations: list[ObservationVar] = field(default_factory=list)


@dataclass(slots=True)
class ScanReportMPFixed:
    data_req_id: int
    scan_report_no: int
    persons: list[PersonFixed] = field(default_factory=list)


@dataclass(slots=True)
class ScanReportMPVar:
    data_req_id: int
    scan_report_no: int
    persons: list[PersonVar] = field(default_factory=list)


@dataclass(slots=True)
class ObservationGrouped:
    """One scan's values of every object the scanner covers, back to back (ObservationScanGrouped)."""

    data: bytes
    offset: int = 0  # absolute offset of `data` in the input


@dataclass(slots=True)
class ScanReportGrouped:
    data_req_id: int
    scan_report_no: int
    groups: list[ObservationGrouped] = field(default_factory=list)


@dataclass(slots=True)
class PersonGrouped:
    person_id: int
    group: ObservationGrouped


@dataclass(slots=True)
class ScanReportMPGrouped:
    data_req_id: int
    scan_report_no: int
    persons: list[PersonGrouped] = field(default_factory=list)


EventInfo = (
    ConfigReport
    | ScanReportFixed
    | ScanReportVar
    | ScanReportMPFixed
    | ScanReportMPVar
    | ScanReportGrouped
    | ScanReportMPGrouped
)


# ---------------------------------------------------------------------------------------------- AVA lists


def decode_ava(r: Reader) -> Ava:
    attr_id = r.u16("attribute-id")
    return Ava(attr_id, r.octet_string(f"attribute 0x{attr_id:04X} value"))


def decode_attribute_list(r: Reader, what: str = "attribute-list") -> list[Ava]:
    count = r.u16(f"{what} count")
    length = r.u16(f"{what} length")
    sub = r.sub(length, what)
    out = [decode_ava(sub) for _ in range(count)]
    sub.expect_end(what)
    return out


def encode_ava(a: Ava) -> bytes:
    return Writer().u16(a.attribute_id).octet_string(a.value).bytes()


def encode_attribute_list(avas: list[Ava]) -> bytes:
    body = b"".join(encode_ava(a) for a in avas)
    return Writer().u16(len(avas)).octet_string(body).bytes()


# ---------------------------------------------------------------------------------------------- event-info


def _fixed_list(r: Reader) -> list[ObservationFixed]:
    count = r.u16("obs-scan-fixed count")
    length = r.u16("obs-scan-fixed length")
    sub = r.sub(length, "obs-scan-fixed")
    out = []
    for _ in range(count):
        handle = sub.u16("obj-handle")
        n = sub.u16("obs-val-data length")
        at = sub.offset
        out.append(ObservationFixed(handle, sub.raw(n, "obs-val-data"), at))
    sub.expect_end("obs-scan-fixed list")
    return out


def _var_list(r: Reader) -> list[ObservationVar]:
    count = r.u16("obs-scan-var count")
    length = r.u16("obs-scan-var length")
    sub = r.sub(length, "obs-scan-var")
    out = []
    for _ in range(count):
        at = sub.offset
        handle = sub.u16("obj-handle")
        out.append(ObservationVar(handle, decode_attribute_list(sub, "attributes"), at))
    sub.expect_end("obs-scan-var list")
    return out


def _persons(r: Reader, fixed: bool) -> list:
    count = r.u16("scan-per count")
    length = r.u16("scan-per length")
    sub = r.sub(length, "scan-per list")
    out: list = []
    for _ in range(count):
        pid = sub.u16("person-id")
        out.append(PersonFixed(pid, _fixed_list(sub)) if fixed else PersonVar(pid, _var_list(sub)))
    sub.expect_end("scan-per list")
    return out


def _grouped(r: Reader) -> ObservationGrouped:
    n = r.u16("obs-scan-grouped length")
    at = r.offset
    return ObservationGrouped(r.raw(n, "obs-scan-grouped"), at)


def _grouped_list(r: Reader, persons: bool) -> list:
    count = r.u16("scan-grouped count")
    length = r.u16("scan-grouped length")
    sub = r.sub(length, "scan-grouped list")
    out: list = []
    for _ in range(count):
        out.append(PersonGrouped(sub.u16("person-id"), _grouped(sub)) if persons else _grouped(sub))
    sub.expect_end("scan-grouped list")
    return out


def decode_config_report(r: Reader) -> ConfigReport:
    report = ConfigReport(r.u16("config-report-id"))
    count = r.u16("config-obj-list count")
    length = r.u16("config-obj-list length")
    sub = r.sub(length, "config-obj-list")
    for _ in range(count):
        obj_class = sub.u16("obj-class")
        handle = sub.u16("obj-handle")
        report.objects.append(ConfigObject(obj_class, handle, decode_attribute_list(sub, "attributes")))
    sub.expect_end("config-obj-list")
    return report


def decode_event_info(event_type: int, r: Reader) -> EventInfo | bytes:
    """Decode the event-info of a known event type; other types return the bytes untouched."""
    info: EventInfo | bytes
    if event_type == MDC_NOTI_CONFIG:
        info = decode_config_report(r)
    elif event_type in FIXED_EVENTS:
        info = ScanReportFixed(r.u16("data-req-id"), r.u16("scan-report-no"), _fixed_list(r))
    elif event_type in VAR_EVENTS:
        info = ScanReportVar(r.u16("data-req-id"), r.u16("scan-report-no"), _var_list(r))
    elif event_type in MP_FIXED_EVENTS:
        info = ScanReportMPFixed(r.u16("data-req-id"), r.u16("scan-report-no"), _persons(r, True))
    elif event_type in MP_VAR_EVENTS:
        info = ScanReportMPVar(r.u16("data-req-id"), r.u16("scan-report-no"), _persons(r, False))
    elif event_type in GROUPED_EVENTS:
        info = ScanReportGrouped(r.u16("data-req-id"), r.u16("scan-report-no"), _grouped_list(r, False))
    elif event_type in MP_GROUPED_EVENTS:
        info = ScanReportMPGrouped(r.u16("data-req-id"), r.u16("scan-report-no"), _grouped_list(r, True))
    else:
        return r.raw(r.remaining)
    r.expect_end(f"event-info 0x{event_type:04X}")
    return info


def _enc_fixed(obs: list[ObservationFixed]) -> bytes:
    body = b"".join(Writer().u16(o.obj_handle).octet_string(o.data).bytes() for o in obs)
    return Writer().u16(len(obs)).octet_string(body).bytes()


def _enc_var(obs: list[ObservationVar]) -> bytes:
    body = b"".join(Writer().u16(o.obj_handle).raw(encode_attribute_list(o.attributes)).bytes() for o in obs)
    return Writer().u16(len(obs)).octet_string(body).bytes()


def encode_event_info(info: EventInfo) -> bytes:
    w = Writer()
    if isinstance(info, ConfigReport):
        body = b"".join(
            Writer().u16(o.obj_class).u16(o.obj_handle).raw(encode_attribute_list(o.attributes)).bytes()
            for o in info.objects
        )
        return w.u16(info.config_report_id).u16(len(info.objects)).octet_string(body).bytes()
    w.u16(info.data_req_id).u16(info.scan_report_no)
    if isinstance(info, ScanReportFixed):
        return w.raw(_enc_fixed(info.observations)).bytes()
    if isinstance(info, ScanReportVar):
        return w.raw(_enc_var(info.observations)).bytes()
    if isinstance(info, ScanReportGrouped):
        body = b"".join(Writer().octet_string(g.data).bytes() for g in info.groups)
        return w.u16(len(info.groups)).octet_string(body).bytes()
    if isinstance(info, ScanReportMPGrouped):
        body = b"".join(Writer().u16(p.person_id).octet_string(p.group.data).bytes() for p in info.persons)
    elif isinstance(info, ScanReportMPFixed):
        body = b"".join(Writer().u16(p.person_id).raw(_enc_fixed(p.observations)).bytes() for p in info.persons)
    else:
        body = b"".join(Writer().u16(p.person_id).raw(_enc_var(p.observations)).bytes() for p in info.persons)
    return w.u16(len(info.persons)).octet_string(body).bytes()


def ava_value(a: Ava, base: int = 0) -> object:
    return decode_attribute_value(a.attribute_id, Reader(a.value, base))


__all__ = [
    "NuObsValue",
    "TypeId",
    "decode_attribute_value",
    "encode_attribute_value",
    "encode_handle_attr_val_map",
]

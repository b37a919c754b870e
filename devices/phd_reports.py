"""IEEE 11073-20601 event-info and attribute structures: AVA lists, config reports, scan reports.

    ConfigReport      (event 0x0D1C)  config-report-id + ConfigObject list (class, handle, attributes)
    ConfigReportRsp   (reply to it)   config-report-id + config-result
    ScanReportFixed   (0x0D1D, and unbuffered/buffered 0x0D23/0x0D29)  handle + obs-val-data per AVM
    ScanReportVar     (0x0D1E, 0x0D22, 0x0D28)                          handle + attribute list
    ScanReportMPFixed (0x0D1F, 0x0D26, 0x0D2C) / ScanReportMPVar (0x0D20, 0x0D25, 0x0D2B): per person-id
    ScanReportGrouped (0x0D24, 0x0D2A) / ScanReportMPGrouped (0x0D27, 0x0D2D): a scanner's values as one
                      octet string per scan, laid out by the scanner's Scan-Handle-Attr-Val-Map (the
                      configuration); the event's obj-handle names the scanner

`decode_attribute_value(attr_id, data)` turns an attribute's bytes into a Python value (SFLOAT/FLOAT
numbers, compound lists, time stamps, status bits, TYPE, AVM …); unknown attributes stay bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from renkei.devices import nomenclature as mdc
from renkei.devices.errors import DeviceCodecError
from renkei.devices.mder import MderNumber, Reader, Writer

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


@dataclass(slots=True, frozen=True)
class NuObsValue:
    """NuObsValue: a numeric carrying its own metric id, state and unit (MDC_ATTR_NU_VAL_OBS)."""

    metric_id: int
    state: int
    unit_code: int
    value: MderNumber


@dataclass(slots=True, frozen=True)
class TypeId:
    partition: int
    code: int


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


# ---------------------------------------------------------------------------------------------- attribute values


def _cmpd(r: Reader, item) -> list:
    count = r.u16("compound count")
    length = r.u16("compound length")
    sub = r.sub(length, "compound values")
    out = [item(sub) for _ in range(count)]
    sub.expect_end("compound values")
    return out


def _nu_obs(r: Reader) -> NuObsValue:
    return NuObsValue(r.u16("metric-id"), r.u16("state"), r.u16("unit-code"), r.float32("value"))


def _id_list(r: Reader) -> list[int]:
    return _cmpd(r, lambda s: s.u16("id"))


def _avm(r: Reader) -> list[tuple[int, int]]:
    return _cmpd(r, lambda s: (s.u16("attribute-id"), s.u16("attribute length")))


def _type_list(r: Reader) -> list[TypeId]:
    return _cmpd(r, lambda s: TypeId(s.u16("partition"), s.u16("code")))


def _label(r: Reader, what: str) -> str:
    """A device's label string (OCTET STRING, ASCII/UTF-8 by practice); undecodable bytes are replaced."""
    return r.octet_string(what).decode("utf-8", "replace").rstrip("\x00")


def _base_offset_time(r: Reader, what: str) -> datetime:
    """BaseOffsetTime (20601-2019): seconds since 1970-01-01 UTC, 1/65536 s, local offset in minutes."""
    start = r.offset
    seconds = r.u32(f"{what} bo-seconds")
    fraction = r.u16(f"{what} bo-fraction")
    offset = r.i16(f"{what} bo-time-offset")
    if not -24 * 60 < offset < 24 * 60:
        raise DeviceCodecError(f"{what}: time offset {offset} minutes is outside ±24 h", start + 6)
    utc = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=fraction * 1_000_000 // 65536)
    return utc.astimezone(timezone(timedelta(minutes=offset)))


def _handle_avm(r: Reader) -> list[tuple[int, list[tuple[int, int]]]]:
    """HandleAttrValMap: per object handle the scanner covers, its Attribute-Value-Map, in report order."""
    return _cmpd(r, lambda s: (s.u16("obj-handle"), _avm(s)))


def encode_handle_attr_val_map(entries: list[tuple[int, list[tuple[int, int]]]]) -> bytes:
    body = Writer()
    for handle, avm in entries:
        inner = b"".join(Writer().u16(a).u16(n).bytes() for a, n in avm)
        body.u16(handle).u16(len(avm)).octet_string(inner)
    return Writer().u16(len(entries)).octet_string(body.bytes()).bytes()


_VALUE_DECODERS = {
    mdc.MDC_ATTR_NU_VAL_OBS_BASIC: lambda r: r.sfloat("Basic-Nu-Observed-Value"),
    mdc.MDC_ATTR_NU_VAL_OBS_SIMP: lambda r: r.float32("Simple-Nu-Observed-Value"),
    mdc.MDC_ATTR_NU_VAL_OBS: _nu_obs,
    mdc.MDC_ATTR_NU_CMPD_VAL_OBS_BASIC: lambda r: _cmpd(r, lambda s: s.sfloat("compound SFLOAT")),
    mdc.MDC_ATTR_NU_CMPD_VAL_OBS_SIMP: lambda r: _cmpd(r, lambda s: s.float32("compound FLOAT")),
    mdc.MDC_ATTR_NU_CMPD_VAL_OBS: lambda r: _cmpd(r, _nu_obs),
    mdc.MDC_ATTR_TIME_STAMP_ABS: lambda r: r.abs_time("Absolute-Time-Stamp"),
    mdc.MDC_ATTR_TIME_ABS: lambda r: r.abs_time("Date-and-Time"),
    mdc.MDC_ATTR_TIME_STAMP_REL: lambda r: r.u32("Relative-Time-Stamp"),
    mdc.MDC_ATTR_TIME_REL: lambda r: r.u32("Relative-Time"),
    mdc.MDC_ATTR_TIME_STAMP_BO: lambda r: _base_offset_time(r, "Base-Offset-Time-Stamp"),
    mdc.MDC_ATTR_TIME_BO: lambda r: _base_offset_time(r, "Date-and-Time-Base-Offset"),
    mdc.MDC_ATTR_SUPPLEMENTAL_TYPES: _type_list,
    mdc.MDC_ATTR_ID_LABEL_STRING: lambda r: _label(r, "Label-String"),
    mdc.MDC_ATTR_UNIT_LABEL_STRING: lambda r: _label(r, "Unit-LabelString"),
    mdc.MDC_ATTR_MSMT_STAT: lambda r: r.u16("Measurement-Status"),
    mdc.MDC_ATTR_UNIT_CODE: lambda r: r.u16("Unit-Code"),
    mdc.MDC_ATTR_ID_TYPE: lambda r: TypeId(r.u16("partition"), r.u16("code")),
    mdc.MDC_ATTR_METRIC_SPEC_SMALL: lambda r: r.u16("Metric-Spec-Small"),
    mdc.MDC_ATTR_METRIC_STRUCT_SMALL: lambda r: (r.u8("ms-struct"), r.u8("ms-comp-no")),
    mdc.MDC_ATTR_ID_PHYSIO_LIST: _id_list,
    mdc.MDC_ATTR_ATTRIBUTE_VAL_MAP: _avm,
    mdc.MDC_ATTR_SCAN_HANDLE_ATTR_VAL_MAP: _handle_avm,
    mdc.MDC_ATTR_DEV_CONFIG_ID: lambda r: r.u16("Dev-Configuration-Id"),
    mdc.MDC_ATTR_ENUM_OBS_VAL_SIMP_OID: lambda r: r.u16("Enum-Observed-Value-Simple-OID"),
    mdc.MDC_ATTR_ENUM_OBS_VAL_SIMP_BIT_STR: lambda r: r.u32("Enum-Observed-Value-Simple-Bit-Str"),
    mdc.MDC_ATTR_ENUM_OBS_VAL_BASIC_BIT_STR: lambda r: r.u16("Enum-Observed-Value-Basic-Bit-Str"),
    mdc.MDC_ATTR_SYS_ID: lambda r: r.octet_string("System-Id"),
}


def decode_attribute_value(attr_id: int, r: Reader) -> object:
    """Decode one attribute value from `r` (which must hold exactly that value); unknown ids -> bytes."""
    decoder = _VALUE_DECODERS.get(attr_id)
    if decoder is None:
        return r.raw(r.remaining)
    value = decoder(r)
    r.expect_end(f"attribute 0x{attr_id:04X} value")
    return value


def ava_value(a: Ava, base: int = 0) -> object:
    return decode_attribute_value(a.attribute_id, Reader(a.value, base))


def encode_attribute_value(attr_id: int, value: object) -> bytes:
    """Inverse of `decode_attribute_value` for the attributes agents put in data reports."""
    w = Writer()
    if attr_id == mdc.MDC_ATTR_NU_VAL_OBS_BASIC:
        w.sfloat(value)
    elif attr_id == mdc.MDC_ATTR_NU_VAL_OBS_SIMP:
        w.float32(value)
    elif attr_id in (mdc.MDC_ATTR_NU_CMPD_VAL_OBS_BASIC, mdc.MDC_ATTR_NU_CMPD_VAL_OBS_SIMP):
        values = list(value)  # type: ignore[call-overload]
        size = 2 if attr_id == mdc.MDC_ATTR_NU_CMPD_VAL_OBS_BASIC else 4
        w.u16(len(values)).u16(size * len(values))
        for v in values:
            w.sfloat(v) if size == 2 else w.float32(v)
    elif attr_id == mdc.MDC_ATTR_NU_VAL_OBS:
        assert isinstance(value, NuObsValue)
        w.u16(value.metric_id).u16(value.state).u16(value.unit_code).float32(value.value)
    elif attr_id in (mdc.MDC_ATTR_TIME_STAMP_ABS, mdc.MDC_ATTR_TIME_ABS):
        assert value is None or isinstance(value, datetime)
        w.abs_time(value)
    elif attr_id in (mdc.MDC_ATTR_TIME_STAMP_REL, mdc.MDC_ATTR_TIME_REL):
        w.u32(int(value))  # type: ignore[call-overload]
    elif attr_id in (mdc.MDC_ATTR_TIME_STAMP_BO, mdc.MDC_ATTR_TIME_BO):
        assert isinstance(value, datetime) and value.utcoffset() is not None
        offset = value.utcoffset()
        assert offset is not None
        ts = value.timestamp()
        w.u32(int(ts)).u16(int((ts - int(ts)) * 65536)).u16(int(offset.total_seconds() // 60))
    elif attr_id in (mdc.MDC_ATTR_ID_LABEL_STRING, mdc.MDC_ATTR_UNIT_LABEL_STRING):
        w.octet_string(str(value).encode("utf-8"))
    elif attr_id in (mdc.MDC_ATTR_MSMT_STAT, mdc.MDC_ATTR_UNIT_CODE, mdc.MDC_ATTR_ENUM_OBS_VAL_SIMP_OID):
        w.u16(int(value))  # type: ignore[call-overload]
    elif isinstance(value, bytes):
        w.raw(value)
    else:
        raise ValueError(f"cannot encode attribute 0x{attr_id:04X} from {type(value).__name__}")
    return w.bytes()

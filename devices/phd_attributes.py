"""IEEE 11073-20601 attribute values: an attribute's MDER bytes <-> a Python value.

`decode_attribute_value(attr_id, reader)` decodes SFLOAT/FLOAT numbers, compound lists, NuObsValue, time
stamps (absolute BCD, base-offset with its UTC offset, relative ticks), status bits, TYPE, supplemental
types, label strings and attribute-value maps; unknown attributes stay bytes. `encode_attribute_value` is
its inverse for what agents put in reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from renkei.devices import nomenclature as mdc
from renkei.devices.errors import DeviceCodecError
from renkei.devices.mder import MderNumber, Reader, Writer


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

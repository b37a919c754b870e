"""BLE GATT characteristic codecs: 0x2A35 blood pressure, 0x2A1C temperature, 0x2A18 glucose measurement.

Little-endian, with the same IEEE 11073 SFLOAT/FLOAT as 20601 (see `mder`). Each characteristic has a
dataclass, `decode_*` (bytes -> dataclass, raising DeviceCodecError with the byte offset), `encode_*`
(dataclass -> bytes, for simulators and tests) and `*_observations` (dataclass -> canonical Observations).
`decode_gatt(kind, data, device_id)` does all of it for "gatt-bp" | "gatt-temp" | "gatt-glucose".

Flags and status bits follow the Bluetooth SIG characteristic definitions (GSS): BP flags bit0 kPa, bit1
time stamp, bit2 pulse rate, bit3 user id, bit4 measurement status; temperature flags bit0 degF, bit1
time stamp, bit2 type; glucose flags bit0 time offset, bit1 concentration + type/sample location, bit2
mol/L (else kg/L), bit3 sensor status annunciation, bit4 context information follows.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime, timedelta

from renkei.devices import nomenclature as mdc
from renkei.devices.errors import DeviceCodecError
from renkei.devices.mder import MderNumber, decode_float, decode_sfloat, encode_float, encode_sfloat
from renkei.devices.readings import make_observation
from renkei.records import Observation

BP_STATUS_FLAGS = {
    0x0001: "body-movement",
    0x0002: "cuff-too-loose",
    0x0004: "irregular-pulse",
    0x0020: "improper-measurement-position",
}
BP_PULSE_RANGE = {
    1: "pulse-rate-exceeds-upper-limit",
    2: "pulse-rate-below-lower-limit",
    3: "pulse-rate-range-reserved",
}
TEMPERATURE_TYPES = {
    1: "armpit",
    2: "body",
    3: "ear",
    4: "finger",
    5: "gastro-intestinal-tract",
    6: "mouth",
    7: "rectum",
    8: "toe",
    9: "tympanum",
}
GLUCOSE_SENSOR_FLAGS = {
    0x0001: "device-battery-low",
    0x0002: "sensor-malfunction",
    0x0004: "sample-size-insufficient",
    0x0008: "strip-insertion-error",
    0x0010: "strip-type-incorrect",
    0x0020: "result-too-high",
    0x0040: "result-too-low",
    0x0080: "sensor-temperature-too-high",
    0x0100: "sensor-temperature-too-low",
    0x0200: "sensor-read-interrupted",
    0x0400: "general-device-fault",
    0x0800: "time-fault",
}
# GATT glucose type nibble -> (name, IEEE 11073-10417 MDC_CONC_GLU_* term)
GLUCOSE_TYPES = {
    1: ("capillary-whole-blood", 29112),
    2: ("capillary-plasma", 29116),
    3: ("venous-whole-blood", 29120),
    4: ("venous-plasma", 29124),
    5: ("arterial-whole-blood", 29128),
    6: ("arterial-plasma", 29132),
    7: ("undetermined-whole-blood", 29292),
    8: ("undetermined-plasma", 29296),
    9: ("interstitial-fluid", 29300),
    10: ("control-solution", 29136),
}
GLUCOSE_LOCATIONS = {1: "finger", 2: "alternate-site-test", 3: "earlobe", 4: "control-solution", 15: "not-available"}


class _LE:
    """Little-endian cursor that reports absolute offsets in errors."""

    __slots__ = ("data", "pos", "what")

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, n: int, field_name: str) -> bytes:
        if self.pos + n > len(self.data):
            raise DeviceCodecError(
                f"{self.what}: truncated {field_name}: need {n} byte(s), {len(self.data) - self.pos} left", self.pos
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self, f: str) -> int:
        return self.take(1, f)[0]

    def u16(self, f: str) -> int:
        return int.from_bytes(self.take(2, f), "little")

    def s16(self, f: str) -> int:
        return int.from_bytes(self.take(2, f), "little", signed=True)

    def sfloat(self, f: str) -> MderNumber:
        return decode_sfloat(self.u16(f))

    def float32(self, f: str) -> MderNumber:
        return decode_float(int.from_bytes(self.take(4, f), "little"))

    def date_time(self, f: str) -> datetime | None:
        at = self.pos
        year, month, day, hour, minute, second = struct.unpack("<HBBBBB", self.take(7, f))
        if year == 0 or month == 0 or day == 0:
            return None  # the GSS "unknown" values
        try:
            return datetime(year, month, day, hour, minute, second)
        except ValueError as exc:
            raise DeviceCodecError(f"{self.what}: {f} is not a valid date/time ({exc})", at) from exc

    def end(self) -> None:
        # judgement: trailing bytes are tolerated by the GSS (fields may be added); we refuse them so a
        # wrong characteristic is not silently half-read
        if self.pos != len(self.data):
            raise DeviceCodecError(f"{self.what}: {len(self.data) - self.pos} unexpected trailing byte(s)", self.pos)


def _le_date_time(when: datetime | None) -> bytes:
    if when is None:
        return bytes(7)
    return struct.pack("<HBBBBB", when.year, when.month, when.day, when.hour, when.minute, when.second)


def _bits(value: int, table: dict[int, str]) -> list[str]:
    return [name for bit, name in table.items() if value & bit]


# ---------------------------------------------------------------------------------------------- 0x2A35


@dataclass(slots=True)
class BloodPressureMeasurement:
    systolic: MderNumber
    diastolic: MderNumber
    mean: MderNumber
    kpa: bool = False
    timestamp: datetime | None = None
    pulse_rate: MderNumber | None = None
    user_id: int | None = None
    status: int | None = None


def decode_blood_pressure(data: bytes) -> BloodPressureMeasurement:
    r = _LE(data, "blood pressure measurement (0x2A35)")
    flags = r.u8("flags")
    if flags & 0xE0:
        raise DeviceCodecError(f"blood pressure measurement (0x2A35): reserved flag bits set (0x{flags:02X})", 0)
    m = BloodPressureMeasurement(r.sfloat("systolic"), r.sfloat("diastolic"), r.sfloat("mean arterial pressure"))
    m.kpa = bool(flags & 0x01)
    if flags & 0x02:
        m.timestamp = r.date_time("time stamp")
    if flags & 0x04:
        m.pulse_rate = r.sfloat("pulse rate")
    if flags & 0x08:
        m.user_id = r.u8("user id")
    if flags & 0x10:
        m.status = r.u16("measurement status")
    r.end()
    return m


def encode_blood_pressure(m: BloodPressureMeasurement) -> bytes:
    flags = (
        (0x01 if m.kpa else 0)
        | (0x02 if m.timestamp else 0)
        | (0x04 if m.pulse_rate is not None else 0)
        | (0x08 if m.user_id is not None else 0)
        | (0x10 if m.status is not None else 0)
    )
    out = bytes([flags]) + struct.pack(
        "<HHH", encode_sfloat(m.systolic), encode_sfloat(m.diastolic), encode_sfloat(m.mean)
    )
    if m.timestamp:
        out += _le_date_time(m.timestamp)
    if m.pulse_rate is not None:
        out += struct.pack("<H", encode_sfloat(m.pulse_rate))
    if m.user_id is not None:
        out += bytes([m.user_id])
    if m.status is not None:
        out += struct.pack("<H", m.status)
    return out


def blood_pressure_observations(m: BloodPressureMeasurement, device_id: str = "") -> list[Observation]:
    flags: list[str] = []
    if m.status is not None:
        flags += _bits(m.status, BP_STATUS_FLAGS)
        if (m.status >> 3) & 0x3:
            flags.append(BP_PULSE_RANGE[(m.status >> 3) & 0x3])
    if m.user_id is not None and m.user_id != 0xFF:
        flags.append(f"user-id:{m.user_id}")  # the device's user slot, never the patient
    unit = mdc.MDC_DIM_KILO_PASCAL if m.kpa else mdc.MDC_DIM_MMHG
    src = f"gatt:{device_id}" if device_id else "gatt"
    pairs = [
        (mdc.MDC_PRESS_BLD_NONINV_SYS, m.systolic),
        (mdc.MDC_PRESS_BLD_NONINV_DIA, m.diastolic),
        (mdc.MDC_PRESS_BLD_NONINV_MEAN, m.mean),
    ]
    out = [
        make_observation(c, v, unit, effective=m.timestamp, device_id=device_id, flags=list(flags), source=src)
        for c, v in pairs
    ]
    if m.pulse_rate is not None:
        out.append(
            make_observation(
                mdc.MDC_PULS_RATE_NON_INV,
                m.pulse_rate,
                mdc.MDC_DIM_BEAT_PER_MIN,
                effective=m.timestamp,
                device_id=device_id,
                flags=list(flags),
                source=src,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------- 0x2A1C


@dataclass(slots=True)
class TemperatureMeasurement:
    value: MderNumber
    fahrenheit: bool = False
    timestamp: datetime | None = None
    temperature_type: int | None = None


def decode_temperature(data: bytes) -> TemperatureMeasurement:
    r = _LE(data, "temperature measurement (0x2A1C)")
    flags = r.u8("flags")
    if flags & 0xF8:
        raise DeviceCodecError(f"temperature measurement (0x2A1C): reserved flag bits set (0x{flags:02X})", 0)
    m = TemperatureMeasurement(r.float32("temperature"), bool(flags & 0x01))
    if flags & 0x02:
        m.timestamp = r.date_time("time stamp")
    if flags & 0x04:
        m.temperature_type = r.u8("temperature type")
    r.end()
    return m


def encode_temperature(m: TemperatureMeasurement) -> bytes:
    flags = (
        (0x01 if m.fahrenheit else 0) | (0x02 if m.timestamp else 0) | (0x04 if m.temperature_type is not None else 0)
    )
    out = bytes([flags]) + struct.pack("<I", encode_float(m.value))
    if m.timestamp:
        out += _le_date_time(m.timestamp)
    if m.temperature_type is not None:
        out += bytes([m.temperature_type])
    return out


def temperature_observations(m: TemperatureMeasurement, device_id: str = "") -> list[Observation]:
    flags = []
    if m.temperature_type is not None:
        flags.append(f"body-site:{TEMPERATURE_TYPES.get(m.temperature_type, str(m.temperature_type))}")
    unit = mdc.MDC_DIM_FAHR if m.fahrenheit else mdc.MDC_DIM_DEGC
    src = f"gatt:{device_id}" if device_id else "gatt"
    return [
        make_observation(
            mdc.MDC_TEMP_BODY, m.value, unit, effective=m.timestamp, device_id=device_id, flags=flags, source=src
        )
    ]


# ---------------------------------------------------------------------------------------------- 0x2A18


@dataclass(slots=True)
class GlucoseMeasurement:
    sequence_number: int
    base_time: datetime | None
    time_offset: int | None = None  # minutes, added to base_time
    concentration: MderNumber | None = None
    mol_per_l: bool = False  # else kg/L
    glucose_type: int | None = None  # low nibble of type-sample location
    sample_location: int | None = None  # high nibble
    sensor_status: int | None = None
    context_follows: bool = False

    @property
    def effective(self) -> datetime | None:
        if self.base_time is None:
            return None
        return self.base_time + timedelta(minutes=self.time_offset or 0)


def decode_glucose(data: bytes) -> GlucoseMeasurement:
    r = _LE(data, "glucose measurement (0x2A18)")
    flags = r.u8("flags")
    if flags & 0xE0:
        raise DeviceCodecError(f"glucose measurement (0x2A18): reserved flag bits set (0x{flags:02X})", 0)
    m = GlucoseMeasurement(r.u16("sequence number"), r.date_time("base time"))
    if flags & 0x01:
        m.time_offset = r.s16("time offset")
    m.mol_per_l = bool(flags & 0x04)
    if flags & 0x02:
        m.concentration = r.sfloat("glucose concentration")
        tsl = r.u8("type-sample location")
        m.glucose_type, m.sample_location = tsl & 0x0F, tsl >> 4
    if flags & 0x08:
        m.sensor_status = r.u16("sensor status annunciation")
    m.context_follows = bool(flags & 0x10)
    r.end()
    return m


def encode_glucose(m: GlucoseMeasurement) -> bytes:
    has_conc = m.concentration is not None
    flags = (
        (0x01 if m.time_offset is not None else 0)
        | (0x02 if has_conc else 0)
        | (0x04 if m.mol_per_l else 0)
        | (0x08 if m.sensor_status is not None else 0)
        | (0x10 if m.context_follows else 0)
    )
    out = bytes([flags]) + struct.pack("<H", m.sequence_number) + _le_date_time(m.base_time)
    if m.time_offset is not None:
        out += struct.pack("<h", m.time_offset)
    if m.concentration is not None:
        out += struct.pack("<H", encode_sfloat(m.concentration))
        out += bytes([((m.sample_location or 0) << 4) | (m.glucose_type or 0)])
    if m.sensor_status is not None:
        out += struct.pack("<H", m.sensor_status)
    return out


def glucose_observations(m: GlucoseMeasurement, device_id: str = "") -> list[Observation]:
    if m.concentration is None:
        return []  # a record without concentration (e.g. context only) carries no reading
    flags = [f"sequence:{m.sequence_number}"]
    if m.sensor_status:
        flags += _bits(m.sensor_status, GLUCOSE_SENSOR_FLAGS)
    name, code = GLUCOSE_TYPES.get(m.glucose_type or 1, (f"type-{m.glucose_type}", 29112))
    flags.append(f"sample-type:{name}")
    if m.sample_location:
        flags.append(f"sample-location:{GLUCOSE_LOCATIONS.get(m.sample_location, str(m.sample_location))}")
    obs = make_observation(
        code,
        m.concentration,
        None,
        unit_label="mol/L" if m.mol_per_l else "kg/L",
        effective=m.effective,
        device_id=device_id,
        flags=flags,
        source=f"gatt:{device_id}" if device_id else "gatt",
    )
    if m.concentration.special is None:
        # kg/L -> mg/dL: x 100 000; mol/L -> mmol/L x 1000 -> mg/dL x 18.0
        factor = 18000.0 if m.mol_per_l else 100000.0
        obs.normalized_value = round(float(m.concentration) * factor, 6)
        obs.normalized_unit = "mg/dL"
    return [obs]


GattRecord = BloodPressureMeasurement | TemperatureMeasurement | GlucoseMeasurement

GATT_KINDS = {
    "gatt-bp": (decode_blood_pressure, blood_pressure_observations),
    "gatt-temp": (decode_temperature, temperature_observations),
    "gatt-glucose": (decode_glucose, glucose_observations),
}


def decode_gatt(kind: str, data: bytes, device_id: str = "") -> tuple[GattRecord, list[Observation]]:
    """Decode one characteristic value of `kind` ("gatt-bp", "gatt-temp", "gatt-glucose")."""
    decode, observe = GATT_KINDS[kind]
    record = decode(data)
    return record, observe(record, device_id)  # type: ignore[arg-type]

"""BLE GATT measurement characteristics: hand-built little-endian vectors, errors, round trips."""

from __future__ import annotations

from datetime import datetime

import device_vectors as v
import pytest

from renkei.devices.errors import DeviceCodecError
from renkei.devices.gatt import (
    decode_blood_pressure,
    decode_gatt,
    decode_glucose,
    decode_temperature,
    encode_blood_pressure,
    encode_glucose,
    encode_temperature,
)

BP_FULL = v.h("""
1E                # flags: mmHg, time stamp, pulse rate, user id, measurement status
79 00             # systolic 121 (SFLOAT LE, exponent 0)
51 00             # diastolic 81
6A 00             # mean 106
E8 07 05 01 07 1E 0F   # 2024-05-01 07:30:15
48 00             # pulse 72
03                # user id 3
05 00             # status: body movement, irregular pulse
""")

BP_KPA = v.h("""
01                # flags: kPa only
A0 F0             # systolic 16.0 kPa (exponent -1, mantissa 160)
6B F0             # diastolic 10.7
7D F0             # mean 12.5
""")

TEMP_F = v.h("""
07                # flags: degF, time stamp, temperature type
FF 03 00 FF       # FLOAT LE: exponent -1, mantissa 1023 -> 102.3 degF
E8 07 05 01 07 1E 00   # 2024-05-01 07:30:00
03                # type: ear
""")

GLUCOSE_KG = v.h("""
0B                # flags: time offset, concentration+type, kg/L, sensor status
2A 00             # sequence number 42
E8 07 05 01 07 00 00   # base time 2024-05-01 07:00:00
1E 00             # time offset +30 min
5F B0             # concentration: exponent -5, mantissa 95 -> 0.00095 kg/L
11                # type 1 capillary whole blood, location 1 finger
00 00             # sensor status: none
""")

GLUCOSE_MOL = v.h("""
06                # flags: concentration+type, mol/L
01 00             # sequence number 1
E8 07 05 01 07 00 00
3A C0             # exponent -4, mantissa 58 -> 0.0058 mol/L
12                # type 2 capillary plasma, location 1 finger
""")


def test_blood_pressure_full() -> None:
    m = decode_blood_pressure(BP_FULL)
    assert (m.systolic.text, m.diastolic.text, m.mean.text, m.pulse_rate.text) == ("121", "81", "106", "72")  # type: ignore[union-attr]
    assert m.timestamp == datetime(2024, 5, 1, 7, 30, 15) and m.user_id == 3 and m.status == 5
    assert encode_blood_pressure(m) == BP_FULL
    _, obs = decode_gatt("gatt-bp", BP_FULL, "AA:BB")
    assert [(o.code.code, o.value, o.unit) for o in obs] == [
        ("18949", "121", "MDC_DIM_MMHG"),
        ("18950", "81", "MDC_DIM_MMHG"),
        ("18951", "106", "MDC_DIM_MMHG"),
        ("18474", "72", "MDC_DIM_BEAT_PER_MIN"),
    ]
    assert obs[0].flags == ["body-movement", "irregular-pulse", "user-id:3"]
    assert obs[0].device_id == "AA:BB" and obs[0].effective == datetime(2024, 5, 1, 7, 30, 15)


def test_blood_pressure_kpa_normalised() -> None:
    _, obs = decode_gatt("gatt-bp", BP_KPA)
    assert [(o.value, o.unit) for o in obs] == [
        ("16.0", "MDC_DIM_KILO_PASCAL"),
        ("10.7", "MDC_DIM_KILO_PASCAL"),
        ("12.5", "MDC_DIM_KILO_PASCAL"),
    ]
    assert [o.normalized_value for o in obs] == [
        pytest.approx(120.00992),
        pytest.approx(80.256634),
        pytest.approx(93.75775),
    ]
    assert {o.normalized_unit for o in obs} == {"mm[Hg]"}
    assert encode_blood_pressure(decode_blood_pressure(BP_KPA)) == BP_KPA


def test_temperature_fahrenheit() -> None:
    m = decode_temperature(TEMP_F)
    assert m.value.text == "102.3" and m.fahrenheit and m.temperature_type == 3
    assert encode_temperature(m) == TEMP_F
    (o,) = decode_gatt("gatt-temp", TEMP_F)[1]
    assert (o.code.code, o.value, o.unit, o.normalized_unit) == ("19292", "102.3", "MDC_DIM_FAHR", "Cel")
    assert o.normalized_value == pytest.approx((102.3 - 32) * 5 / 9)
    assert o.flags == ["body-site:ear"]


def test_glucose_kg_per_l() -> None:
    m = decode_glucose(GLUCOSE_KG)
    assert m.sequence_number == 42 and m.time_offset == 30 and m.concentration.text == "0.00095"  # type: ignore[union-attr]
    assert m.effective == datetime(2024, 5, 1, 7, 30)
    assert encode_glucose(m) == GLUCOSE_KG
    (o,) = decode_gatt("gatt-glucose", GLUCOSE_KG)[1]
    assert (o.code.code, o.value, o.unit, o.normalized_value, o.normalized_unit) == (
        "29112",
        "0.00095",
        "kg/L",
        95.0,
        "mg/dL",
    )
    assert o.flags == ["sequence:42", "sample-type:capillary-whole-blood", "sample-location:finger"]


def test_glucose_mol_per_l() -> None:
    (o,) = decode_gatt("gatt-glucose", GLUCOSE_MOL)[1]
    assert (o.code.code, o.value, o.unit, o.normalized_value) == ("29116", "0.0058", "mol/L", pytest.approx(104.4))
    assert encode_glucose(decode_glucose(GLUCOSE_MOL)) == GLUCOSE_MOL


@pytest.mark.parametrize(
    ("kind", "data", "offset", "reason"),
    [
        ("gatt-bp", BP_FULL[:5], 5, "truncated mean arterial pressure: need 2 byte(s), 0 left"),
        ("gatt-bp", BP_FULL[:-1], 17, "truncated measurement status"),
        ("gatt-bp", b"\x20" + BP_KPA[1:], 0, "reserved flag bits set (0x20)"),
        ("gatt-bp", BP_KPA + b"\x00", 7, "1 unexpected trailing byte(s)"),
        ("gatt-temp", v.h("02 24 01 00 FF E8 07 0D 01 00 00 00"), 5, "time stamp is not a valid date/time"),
        ("gatt-temp", b"", 0, "truncated flags"),
        ("gatt-glucose", GLUCOSE_KG[:11], 10, "truncated time offset: need 2 byte(s), 1 left"),
    ],
)
def test_malformed(kind: str, data: bytes, offset: int, reason: str) -> None:
    with pytest.raises(DeviceCodecError) as info:
        decode_gatt(kind, data)
    assert info.value.offset == offset, str(info.value)
    assert reason in info.value.reason

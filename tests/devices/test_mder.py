"""MDER primitives: SFLOAT/FLOAT (with the special values), BCD absolute time, reader errors."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

import pytest

from renkei.devices.errors import DeviceCodecError
from renkei.devices.mder import (
    MderNumber,
    Reader,
    decode_abs_time,
    decode_float,
    decode_sfloat,
    encode_abs_time,
    encode_float,
    encode_sfloat,
)
from renkei.errors import InputError


def test_domain_examples() -> None:
    assert decode_sfloat(0xF258).text == "60.0"
    assert float(decode_sfloat(0xF258)) == 60.0
    assert decode_float(0xFF000270).text == "62.4"
    assert encode_sfloat("60.0") == 0xF258
    assert encode_float("62.4") == 0xFF000270


@pytest.mark.parametrize(
    ("raw", "text"),
    [(0x0062, "98"), (0x0FFF, "-1"), (0x1005, "50"), (0xE4D2, "12.34"), (0x8001, "1E-8"), (0xF800, "-204.8")],
)
def test_sfloat_values(raw: int, text: str) -> None:
    num = decode_sfloat(raw)
    assert num.decimal == Decimal(text)
    assert encode_sfloat(num) == raw


@pytest.mark.parametrize(
    ("raw", "name"), [(0x07FF, "NaN"), (0x0800, "NRes"), (0x07FE, "+INF"), (0x0802, "-INF"), (0x0801, "reserved")]
)
def test_sfloat_specials(raw: int, name: str) -> None:
    num = decode_sfloat(raw)
    assert num.special == name and num.text == name and num.decimal is None
    if name != "reserved":
        assert encode_sfloat(name) == raw


@pytest.mark.parametrize(
    ("raw", "name"),
    [(0x007FFFFF, "NaN"), (0x00800000, "NRes"), (0x007FFFFE, "+INF"), (0x00800002, "-INF"), (0x00800001, "reserved")],
)
def test_float_specials(raw: int, name: str) -> None:
    num = decode_float(raw)
    assert num.special == name
    if name != "reserved":
        assert encode_float(name) == raw


def test_special_floats() -> None:
    assert math.isnan(float(decode_sfloat(0x07FF)))
    assert float(decode_float(0x007FFFFE)) == math.inf
    assert float(decode_float(0x00800002)) == -math.inf
    assert encode_sfloat(math.inf) == 0x07FE
    assert encode_float(math.nan) == 0x007FFFFF


def test_float_negative_and_precision() -> None:
    assert decode_float(0xFEFFFF9C).text == "-1.00"  # exponent -2, mantissa -100
    assert encode_float("-1.00") == 0xFEFFFF9C
    assert MderNumber.of("36.50", mantissa_bits=24).text == "36.50"  # trailing zero is precision, kept
    assert MderNumber.of("36.50").text == "36.5"  # 3650 does not fit the SFLOAT mantissa


def test_sfloat_rounds_when_too_precise() -> None:
    # 123.456 does not fit 12 bits of mantissa: the encoder drops digits, not the magnitude
    assert decode_sfloat(encode_sfloat("123.456")).text == "123.5"
    with pytest.raises(ValueError, match="does not fit"):
        encode_sfloat("1E+20")


def test_abs_time_roundtrip() -> None:
    raw = bytes.fromhex("2007120612100050")
    when = decode_abs_time(raw)
    assert when == datetime(2007, 12, 6, 12, 10, 0, 500000)
    assert encode_abs_time(when) == raw
    assert decode_abs_time(b"\xff" * 8) is None
    assert encode_abs_time(None) == b"\xff" * 8


def test_abs_time_bad_bcd_digit_names_offset() -> None:
    with pytest.raises(DeviceCodecError) as info:
        decode_abs_time(bytes.fromhex("20071A0612100000"), offset=30)
    assert info.value.offset == 32
    assert "bad BCD digit 0x1A in AbsoluteTime month" in str(info.value)
    assert str(info.value).startswith("byte offset 32:")
    assert isinstance(info.value, InputError)


def test_abs_time_invalid_date() -> None:
    with pytest.raises(DeviceCodecError, match=r"byte offset 0: AbsoluteTime is not a valid date"):
        decode_abs_time(bytes.fromhex("2007130612100000"))


def test_reader_truncation_offsets() -> None:
    r = Reader(b"\x00\x01\x02", base=100)
    assert r.u16() == 1
    with pytest.raises(DeviceCodecError) as info:
        r.u16("dev-config-id")
    assert info.value.offset == 102
    assert "truncated dev-config-id: need 2 byte(s), 1 left" in info.value.reason

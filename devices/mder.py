"""IEEE 11073-20601 MDER primitives: big-endian integers, SFLOAT/FLOAT, BCD absolute time.

`Reader` reads from a byte string and raises `DeviceCodecError` with the absolute byte offset (its
`base` plus the position) when the input is short. `Writer` builds bytes. SFLOAT (16 bit: 4-bit
exponent, 12-bit mantissa) and FLOAT (32 bit: 8-bit exponent, 24-bit mantissa) decode to `MderNumber`,
which keeps the exact decimal the device sent ("60.0", not 59.99999) and the special values NaN, NRes,
+INF, -INF. BLE GATT uses the same numbers little-endian: pass `little=True`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation, localcontext

from renkei.devices.errors import DeviceCodecError

# raw value (with exponent 0) -> name, per 20601 §F.6 / the GATT spec's IEEE 11073 types
SFLOAT_SPECIALS = {0x07FF: "NaN", 0x0800: "NRes", 0x07FE: "+INF", 0x0802: "-INF", 0x0801: "reserved"}
FLOAT_SPECIALS = {0x007FFFFF: "NaN", 0x00800000: "NRes", 0x007FFFFE: "+INF", 0x00800002: "-INF", 0x00800001: "reserved"}
SFLOAT_CODES = {name: raw for raw, name in SFLOAT_SPECIALS.items()}
FLOAT_CODES = {name: raw for raw, name in FLOAT_SPECIALS.items()}


@dataclass(slots=True, frozen=True)
class MderNumber:
    """A decoded SFLOAT/FLOAT: value = mantissa × 10^exponent, or a special value (`special` set)."""

    mantissa: int
    exponent: int
    special: str | None = None  # "NaN", "NRes", "+INF", "-INF", "reserved"

    @property
    def decimal(self) -> Decimal | None:
        if self.special is not None:
            return None
        return Decimal(self.mantissa).scaleb(self.exponent)

    @property
    def text(self) -> str:
        """The value as the device meant it: "60.0", "97", or the special value's name."""
        if self.special is not None:
            return self.special
        return format(Decimal(self.mantissa).scaleb(self.exponent), "f")

    def __float__(self) -> float:
        if self.special == "+INF":
            return math.inf
        if self.special == "-INF":
            return -math.inf
        if self.special is not None:
            return math.nan
        return float(Decimal(self.mantissa).scaleb(self.exponent))

    @classmethod
    def of(cls, value: object, *, mantissa_bits: int = 12) -> MderNumber:
        """Build from a number or decimal text, keeping its written precision where the mantissa fits.

        Special names ("NaN", "NRes", "+INF", "-INF") are accepted as text. Used by the encoders.
        """
        if isinstance(value, MderNumber):
            return value
        if isinstance(value, str) and value in SFLOAT_CODES:
            return cls(0, 0, value)
        if isinstance(value, float) and math.isnan(value):
            return cls(0, 0, "NaN")
        if isinstance(value, float) and math.isinf(value):
            return cls(0, 0, "+INF" if value > 0 else "-INF")
        try:
            dec = Decimal(str(value)) if not isinstance(value, Decimal) else value
        except InvalidOperation as exc:
            raise ValueError(f"not a number: {value!r}") from exc
        if not dec.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        limit = (1 << (mantissa_bits - 1)) - 3  # the top codes are the special values
        sign, digits, exp = dec.as_tuple()
        assert isinstance(exp, int)
        mant = int("".join(map(str, digits)) or "0")
        while mant > limit and exp < 0:
            # too precise for the mantissa: drop a digit (round half even like the device would)
            with localcontext() as ctx:  # enough precision for any digit count (quantize would trap)
                ctx.prec = max(28, len(digits) + 2)
                dec = dec.quantize(Decimal(1).scaleb(exp + 1))
            sign, digits, exp = dec.as_tuple()
            assert isinstance(exp, int)
            mant = int("".join(map(str, digits)) or "0")
        while mant > limit:
            mant, exp = round(mant / 10), exp + 1
        return cls(-mant if sign else mant, exp)


def decode_sfloat(raw: int) -> MderNumber:
    if raw in SFLOAT_SPECIALS:
        return MderNumber(0, 0, SFLOAT_SPECIALS[raw])
    exponent = raw >> 12
    mantissa = raw & 0x0FFF
    if exponent >= 0x8:
        exponent -= 0x10
    if mantissa >= 0x800:
        mantissa -= 0x1000
    return MderNumber(mantissa, exponent)


def decode_float(raw: int) -> MderNumber:
    if raw in FLOAT_SPECIALS:
        return MderNumber(0, 0, FLOAT_SPECIALS[raw])
    exponent = raw >> 24
    mantissa = raw & 0x00FFFFFF
    if exponent >= 0x80:
        exponent -= 0x100
    if mantissa >= 0x800000:
        mantissa -= 0x1000000
    return MderNumber(mantissa, exponent)


def encode_sfloat(value: object) -> int:
    """Raw 16-bit SFLOAT for a number, decimal text, `MderNumber` or special-value name."""
    num = MderNumber.of(value, mantissa_bits=12)
    if num.special is not None:
        return SFLOAT_CODES[num.special]
    raw = ((num.exponent & 0xF) << 12) | (num.mantissa & 0x0FFF)
    if not -8 <= num.exponent <= 7 or not -2048 <= num.mantissa <= 2047 or raw in SFLOAT_SPECIALS:
        raise ValueError(f"{num.text} does not fit an SFLOAT")
    return raw


def encode_float(value: object) -> int:
    """Raw 32-bit FLOAT for a number, decimal text, `MderNumber` or special-value name."""
    num = MderNumber.of(value, mantissa_bits=24)
    if num.special is not None:
        return FLOAT_CODES[num.special]
    raw = ((num.exponent & 0xFF) << 24) | (num.mantissa & 0x00FFFFFF)
    if not -128 <= num.exponent <= 127 or not -0x800000 <= num.mantissa <= 0x7FFFFF or raw in FLOAT_SPECIALS:
        raise ValueError(f"{num.text} does not fit a FLOAT")
    return raw


class Reader:
    """Sequential reader over `data`; offsets in errors are `base` + position (absolute in the input)."""

    __slots__ = ("base", "data", "end", "pos")

    def __init__(self, data: bytes, base: int = 0, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.base = base
        self.pos = pos
        self.end = len(data) if end is None else end

    @property
    def offset(self) -> int:
        return self.base + self.pos

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def fail(self, reason: str, at: int | None = None) -> DeviceCodecError:
        return DeviceCodecError(reason, self.base + (self.pos if at is None else at))

    def _need(self, n: int, what: str) -> int:
        if self.pos + n > self.end:
            raise self.fail(f"truncated {what}: need {n} byte(s), {self.end - self.pos} left")
        p = self.pos
        self.pos += n
        return p

    def u8(self, what: str = "INT-U8") -> int:
        p = self._need(1, what)
        return self.data[p]

    def u16(self, what: str = "INT-U16") -> int:
        p = self._need(2, what)
        return (self.data[p] << 8) | self.data[p + 1]

    def u32(self, what: str = "INT-U32") -> int:
        p = self._need(4, what)
        return int.from_bytes(self.data[p : p + 4], "big")

    def i16(self, what: str = "INT-I16") -> int:
        v = self.u16(what)
        return v - 0x10000 if v >= 0x8000 else v

    def raw(self, n: int, what: str = "octets") -> bytes:
        p = self._need(n, what)
        return self.data[p : p + n]

    def octet_string(self, what: str = "OCTET STRING") -> bytes:
        n = self.u16(f"{what} length")
        return self.raw(n, what)

    def sub(self, n: int, what: str) -> Reader:
        """A reader over the next `n` bytes (a length-prefixed body); this reader skips past them."""
        p = self._need(n, what)
        return Reader(self.data, self.base, p, p + n)

    def sfloat(self, what: str = "SFLOAT") -> MderNumber:
        return decode_sfloat(self.u16(what))

    def float32(self, what: str = "FLOAT") -> MderNumber:
        return decode_float(self.u32(what))

    def abs_time(self, what: str = "AbsoluteTime") -> datetime | None:
        start = self.pos
        raw = self.raw(8, what)
        return decode_abs_time(raw, self.base + start)

    def expect_end(self, what: str) -> None:
        if self.pos != self.end:
            raise self.fail(f"{self.end - self.pos} unexpected byte(s) after {what}")


class Writer:
    """Big-endian MDER writer; `length_prefixed` helps write CHOICE/OCTET STRING bodies."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def u8(self, v: int) -> Writer:
        self.buf.append(v & 0xFF)
        return self

    def u16(self, v: int) -> Writer:
        self.buf += struct.pack(">H", v & 0xFFFF)
        return self

    def u32(self, v: int) -> Writer:
        self.buf += struct.pack(">I", v & 0xFFFFFFFF)
        return self

    def raw(self, b: bytes) -> Writer:
        self.buf += b
        return self

    def octet_string(self, b: bytes) -> Writer:
        if len(b) > 0xFFFF:
            raise ValueError("octet string longer than 65535 bytes")
        return self.u16(len(b)).raw(b)

    def sfloat(self, v: object) -> Writer:
        return self.u16(encode_sfloat(v))

    def float32(self, v: object) -> Writer:
        return self.u32(encode_float(v))

    def abs_time(self, when: datetime | None) -> Writer:
        return self.raw(encode_abs_time(when))

    def bytes(self) -> bytes:
        return bytes(self.buf)


def _bcd(byte: int, offset: int, field: str) -> int:
    hi, lo = byte >> 4, byte & 0x0F
    if hi > 9 or lo > 9:
        raise DeviceCodecError(f"bad BCD digit 0x{byte:02X} in AbsoluteTime {field}", offset)
    return hi * 10 + lo


_TIME_FIELDS = ("century", "year", "month", "day", "hour", "minute", "second", "sec-fractions")


def decode_abs_time(raw: bytes, offset: int = 0) -> datetime | None:
    """8 BCD bytes (century, year, month, day, hour, minute, second, 1/100 s) -> naive device-local time.

    All 0xFF or all zero means "no time set" and gives None.
    """
    if len(raw) != 8:
        raise DeviceCodecError(f"AbsoluteTime needs 8 bytes, got {len(raw)}", offset)
    if raw == b"\xff" * 8 or raw == b"\x00" * 8:
        return None
    c, y, mo, d, h, mi, s, f = (_bcd(b, offset + i, _TIME_FIELDS[i]) for i, b in enumerate(raw))
    try:
        return datetime(c * 100 + y, mo, d, h, mi, s, f * 10000)
    except ValueError as exc:
        raise DeviceCodecError(f"AbsoluteTime is not a valid date/time ({exc})", offset) from exc


def _to_bcd(v: int) -> int:
    return ((v // 10) << 4) | (v % 10)


def encode_abs_time(when: datetime | None) -> bytes:
    if when is None:
        return b"\xff" * 8
    return bytes(
        _to_bcd(v)
        for v in (
            when.year // 100,
            when.year % 100,
            when.month,
            when.day,
            when.hour,
            when.minute,
            when.second,
            when.microsecond // 10000,
        )
    )

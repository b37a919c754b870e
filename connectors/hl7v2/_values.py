"""HL7 v2 DTM/DT values to Python dates, fast: SS-MIX2 timestamps are local Japan time (JST)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

JST = timezone(timedelta(hours=9), "JST")


def parse_dt(value: str) -> date | None:
    """`YYYYMMDD[…]` to a date; None when empty or not a date."""
    if len(value) < 8 or not value[:8].isdigit():
        return None
    try:
        return date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None


@lru_cache(maxsize=8192)  # one message repeats its times (MSH-7, EVN-2, ORC-9, OBX-14…); datetimes are immutable
def parse_dtm(value: str) -> datetime | None:
    """`YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]` to an aware datetime (JST unless an offset is given)."""
    if not value:
        return None
    tz = JST
    for sign in "+-":
        pos = value.find(sign, 4)
        if pos > 0:
            off = value[pos + 1 :]
            if len(off) == 4 and off.isdigit():
                minutes = int(off[:2]) * 60 + int(off[2:])
                tz = timezone(timedelta(minutes=minutes if sign == "+" else -minutes))
            value = value[:pos]
            break
    frac = ""
    if "." in value:
        value, frac = value.split(".", 1)
    if not value.isdigit() or len(value) not in (4, 6, 8, 10, 12, 14):
        return None
    try:
        return datetime(
            int(value[0:4]),
            int(value[4:6] or 1),
            int(value[6:8] or 1),
            int(value[8:10] or 0),
            int(value[10:12] or 0),
            int(value[12:14] or 0),
            int((frac + "000000")[:6]) if frac.isdigit() else 0,
            tzinfo=tz,
        )
    except ValueError:
        return None


def format_dtm(value: datetime, precision: int = 14) -> str:
    """Inverse of parse_dtm for JST values (generator): 8, 12 or 14 digits, or 17 with milliseconds."""
    v = value.astimezone(JST)
    s = v.strftime("%Y%m%d%H%M%S")[:precision]
    if precision > 14:
        s += f".{v.microsecond // 1000:03d}"
    return s


def source_version(msh7: str, file_timestamp: str = "") -> str:
    """A message's version, comparable as a string: MSH-7 (date/time of message) as Japan time
    `YYYYMMDDHHMMSS.ffffff` (fixed width; JST has no daylight saving, so string order is time order),
    else the SS-MIX2 file name's timestamp (17 digits, JST), else "".

    A later version of a result replaces the post of an earlier one; an earlier one arriving late never
    replaces a later one (docs/hl7v2.md)."""
    base, _, frac = msh7.partition(".")
    if len(base) in (8, 12, 14) and base.isdigit() and (not frac or frac.isdigit()):
        return f"{base:0<14}.{frac[:6]:0<6}"  # the common case, no offset (JST): no datetime needed
    when = parse_dtm(msh7)
    if when is None:
        if len(file_timestamp) == 17 and file_timestamp.isdigit():
            return f"{file_timestamp[:14]}.{file_timestamp[14:]}000"
        return ""
    return when.astimezone(JST).strftime("%Y%m%d%H%M%S.%f")

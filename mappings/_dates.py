"""Dates: parse HL7 v2 TS and ISO 8601, format with strftime plus Japanese era (和暦), age at a date.

Age follows Japanese law (年齢計算ニ関スル法律 with 民法 143条): age counts from the day of birth and a
year of age is completed at the end of the day before the birthday, so a person *reaches* age N on the
day before their Nth birthday (the reason children born on 1 April start school a year earlier). For
someone born on 29 February the year ends on the last day of February (143条2項), i.e. 28 February in
a common year. Both cases reduce to: age at D = calendar age on D + 1 day. `rule: birthday` gives the
everyday convention instead (the age changes on the birthday; 29 February counts on 1 March).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from renkei.mappings.errors import MappingValueError

# (first day, kanji, initial). Before 1873-01-01 Japan used the lunisolar calendar, so Gregorian dates
# have no exact era date; we refuse them rather than guess.
ERAS: tuple[tuple[date, str, str], ...] = (
    (date(2019, 5, 1), "令和", "R"),
    (date(1989, 1, 8), "平成", "H"),
    (date(1926, 12, 25), "昭和", "S"),
    (date(1912, 7, 30), "大正", "T"),
    (date(1868, 10, 23), "明治", "M"),
)
GREGORIAN_ADOPTED = date(1873, 1, 1)

_HL7_TS = re.compile(
    r"^(?P<y>\d{4})(?:(?P<mo>\d{2})(?:(?P<d>\d{2})(?:(?P<h>\d{2})(?:(?P<mi>\d{2})(?:(?P<s>\d{2})"
    r"(?:\.(?P<frac>\d{1,4}))?)?)?)?)?)?(?P<tz>[+-]\d{4})?$"
)


def parse_when(value: object, fmt: str = "auto") -> date | datetime:
    """A date or datetime from a date object, an HL7 TS (YYYYMMDD[HHMM[SS[.S]]][+ZZZZ]) or ISO 8601 text.

    HL7 TS with only a year or year+month gives the first day of that period (precision is lost)."""
    if isinstance(value, datetime | date):
        return value
    if not isinstance(value, str):
        raise MappingValueError("expected a date or date-time text", value=value)
    text = value.strip()
    if fmt in ("auto", "hl7"):
        m = _HL7_TS.match(text)
        if m:
            try:
                return _from_hl7(m)
            except ValueError as exc:
                raise MappingValueError(f"not a valid HL7 TS date ({exc})", value=value) from exc
        if fmt == "hl7":
            raise MappingValueError("not an HL7 TS (YYYYMMDD[HHMM[SS[.S]]][+ZZZZ])", value=value)
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise MappingValueError("not an ISO 8601 or HL7 TS date", value=value) from exc


def _from_hl7(m: re.Match[str]) -> date | datetime:
    g = m.groupdict()
    if g["h"] is None:
        if g["tz"]:
            raise ValueError("a time zone needs a time")
        return date(int(g["y"]), int(g["mo"] or 1), int(g["d"] or 1))
    frac = g["frac"] or ""
    micro = int(frac.ljust(6, "0")) if frac else 0
    tz: tzinfo | None = None
    if g["tz"]:
        sign = 1 if g["tz"][0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(g["tz"][1:3]), minutes=int(g["tz"][3:5])))
    return datetime(int(g["y"]), int(g["mo"]), int(g["d"]), int(g["h"]), int(g["mi"] or 0), int(g["s"] or 0), micro, tz)


def parse_tz(name: str) -> tzinfo:
    """`+09:00` / `-0500` / `UTC` / an IANA name such as `Asia/Tokyo`."""
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if m:
        sign = 1 if m.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def era_of(day: date) -> tuple[str, str, int]:
    """(era kanji, initial, year of era) — e.g. 2019-05-01 → ('令和', 'R', 1)."""
    if day < GREGORIAN_ADOPTED:
        raise MappingValueError("dates before 1873-01-01 (lunisolar calendar) have no exact era date", value=day)
    for start, name, initial in ERAS:
        if day >= start:
            return name, initial, day.year - start.year + 1
    raise AssertionError("unreachable: 明治 covers every date from 1873")


def format_when(value: date | datetime, pattern: str) -> str:
    """strftime, plus `{era}` 令和, `{era_initial}` R, `{era_year}` 1, `{era_year_gannen}` 元 for year 1,
    `{month}` and `{day}` without zero padding. `iso` and `hl7` are named patterns."""
    if pattern == "iso":
        return value.isoformat()
    if pattern == "hl7":
        if isinstance(value, datetime):
            return value.strftime("%Y%m%d%H%M%S") + (value.strftime("%z") if value.tzinfo else "")
        return value.strftime("%Y%m%d")
    if "{" in pattern:
        day = value.date() if isinstance(value, datetime) else value
        name, initial, year = era_of(day)
        replacements = {
            "{era}": name,
            "{era_initial}": initial,
            "{era_year}": str(year),
            "{era_year_gannen}": "元" if year == 1 else str(year),
            "{month}": str(day.month),
            "{day}": str(day.day),
        }
        for token, text in replacements.items():
            pattern = pattern.replace(token, text.replace("%", "%%"))
    return value.strftime(pattern)


def age_at(birth: date, at: date, rule: str = "legal") -> int:
    """Age in completed years on `at` (see the module docstring for the legal rule)."""
    if isinstance(birth, datetime):
        birth = birth.date()
    if isinstance(at, datetime):
        at = at.date()
    if at < birth:
        raise MappingValueError("the date is before the birth date", value=birth)
    if rule == "legal":
        at = at + timedelta(days=1)
    years = at.year - birth.year
    if (at.month, at.day) < (birth.month, birth.day):
        years -= 1
    return years

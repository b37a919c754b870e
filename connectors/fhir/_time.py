"""Dates and times between canonical records and FHIR.

Japanese EHR exports (SS-MIX2, HL7 v2) carry wall-clock times without a zone, and canonical records keep
them naive. FHIR requires a zone on any dateTime with a time, so naive times are written as Japan time
(+09:00) and times read back from FHIR are turned into naive Japan time again, matching what the SS-MIX2
source produces. Aware canonical times keep their own offset on the way out.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")


def to_fhir_datetime(value: datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=JST)
    return aware.isoformat()


def to_fhir_date(value: date) -> str:
    return value.isoformat()


_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def from_fhir_datetime(text: str) -> datetime:
    """A FHIR dateTime/instant as naive Japan time; a bare date is midnight of that day."""
    m = _PARTIAL.match(text)
    if m:
        return datetime(int(m[1]), int(m[2] or 1), int(m[3] or 1))
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        return parsed
    return parsed.astimezone(JST).replace(tzinfo=None)


def from_fhir_date(text: str) -> date:
    m = _PARTIAL.match(text[:10])
    if not m:
        raise ValueError("not a FHIR date")
    return date(int(m[1]), int(m[2] or 1), int(m[3] or 1))

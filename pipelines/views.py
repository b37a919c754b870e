"""Read-only views the console's pages need beyond the Store's operator queries: a filtered, paged
message list and a patient's vital-sign observations over the last weeks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from renkei.devices import nomenclature as mdc
from renkei.pipelines.schema import messages
from renkei.pipelines.store import Store

# IEEE 11073 codes of the trend chart's series -> (series key, the normalised UCUM unit it is drawn in)
VITAL_SERIES: dict[str, tuple[str, str]] = {
    str(mdc.MDC_PRESS_BLD_NONINV_SYS): ("systolic", "mm[Hg]"),
    str(mdc.MDC_PRESS_BLD_NONINV_DIA): ("diastolic", "mm[Hg]"),
    str(mdc.MDC_PULS_RATE_NON_INV): ("pulse", "/min"),
    str(mdc.MDC_PULS_OXIM_PULS_RATE): ("pulse", "/min"),
    str(mdc.MDC_PULS_OXIM_SAT_O2): ("spo2", "%"),
    str(mdc.MDC_TEMP_BODY): ("temperature", "Cel"),
    str(mdc.MDC_MASS_BODY_ACTUAL): ("weight", "kg"),
}


@dataclass(slots=True, frozen=True)
class MessageFilter:
    pipeline: str = ""
    state: str = ""
    patient_id: str = ""
    since: float | None = None  # received_at bounds, epoch seconds
    until: float | None = None
    before_id: int | None = None  # paging: the next page starts below the last id shown


def browse_messages(store: Store, f: MessageFilter, limit: int = 50) -> list[sa.Row]:
    """Newest first, without raw bytes or records (one page; indexes on pipeline/state and patient)."""
    cols = [c for c in messages.c if c.name not in ("raw", "records")]
    q = sa.select(*cols).order_by(messages.c.id.desc()).limit(limit)
    for column, value in ((messages.c.pipeline, f.pipeline), (messages.c.state, f.state),
                          (messages.c.patient_id, f.patient_id)):  # fmt: skip
        if value:
            q = q.where(column == value)
    if f.since is not None:
        q = q.where(messages.c.received_at >= f.since)
    if f.until is not None:
        q = q.where(messages.c.received_at < f.until)
    if f.before_id is not None:
        q = q.where(messages.c.id < f.before_id)
    with store.read() as conn:
        return conn.execute(q).all()


def pipelines_known(store: Store) -> list[str]:
    with store.read() as conn:
        return sorted(conn.execute(sa.select(messages.c.pipeline).distinct()).scalars())


@dataclass(slots=True, frozen=True)
class VitalPoint:
    series: str
    at: datetime
    value: float
    unit: str


def vital_points(store: Store, patient_id: str, weeks: int = 6, now: float | None = None) -> list[VitalPoint]:
    """The patient's device vital signs measured in the last `weeks`, oldest first. Only values that are
    numbers in the series' normalised unit are points: an invalid or differently-unitted value never becomes one."""
    since = (now or time.time()) - weeks * 7 * 86400
    q = (
        sa.select(messages.c.records)
        .where(messages.c.patient_id == patient_id, messages.c.received_at >= since, messages.c.records.is_not(None))
        .order_by(messages.c.id)
        .limit(5000)
    )
    points: list[VitalPoint] = []
    with store.read() as conn:
        for (records,) in conn.execute(q):
            points.extend(p for r in records or [] if (p := _point(r)) is not None)
    start = datetime.fromtimestamp(since).astimezone()
    return sorted((p for p in points if p.at >= start), key=lambda p: p.at)  # measured in the window


def _point(record: dict[str, Any]) -> VitalPoint | None:
    if record.get("kind") != "observation" or "implausible" in (record.get("flags") or []):
        return None
    code = (record.get("code") or {}).get("code", "")
    if code not in VITAL_SERIES or not record.get("effective"):
        return None
    series, unit = VITAL_SERIES[code]
    value = record.get("normalized_value")
    if not isinstance(value, int | float) or record.get("normalized_unit") != unit:
        return None  # a special value (NaN, NRes) or another unit: never drawn as a number
    try:
        at = datetime.fromisoformat(str(record["effective"]))
    except ValueError:
        return None
    at = at if at.tzinfo else at.astimezone()  # no offset: the device's wall clock, taken as this machine's zone
    return VitalPoint(series, at, float(value), unit)

"""Read-only views the console's pages need beyond the Store's operator queries: a filtered, paged
message list, a page of held items with their rendered texts, and a patient's vital signs over the
last weeks. Each is a bounded number of queries, whatever the store's size."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from renkei.db import chunked
from renkei.devices import nomenclature as mdc
from renkei.pipelines.schema import MessageState, deliveries, messages
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


def held_patients(store: Store, offset: int = 0, limit: int = 20) -> tuple[list[str], int]:
    """One page of the patients with messages awaiting approval (longest waiting first), and how many
    patients wait in all. A page holds whole patients, so "approve all of a patient's" sees them all."""
    waiting = messages.c.state == MessageState.AWAITING_APPROVAL.value
    with store.read() as conn:  # one pass: the held patients in waiting order, sliced here
        every = conn.execute(
            sa.select(messages.c.patient_id).where(waiting).group_by(messages.c.patient_id)
            .order_by(sa.func.min(messages.c.id))
        ).scalars().all()  # fmt: skip
    return list(every[offset : offset + limit]), len(every)


def held_messages(store: Store, patient_ids: list[str]) -> list[sa.Row]:
    """The messages awaiting approval of these patients, oldest first, without raw bytes or records."""
    if not patient_ids:
        return []
    cols = [c for c in messages.c if c.name not in ("raw", "records")]
    q = (sa.select(*cols).where(messages.c.state == MessageState.AWAITING_APPROVAL.value,
                                messages.c.patient_id.in_(patient_ids)).order_by(messages.c.id))  # fmt: skip
    with store.read() as conn:
        return conn.execute(q).all()


def delivery_texts(store: Store, message_ids: list[int]) -> dict[int, list[str]]:
    """message id -> the distinct rendered texts its deliveries carry (what a physician approves)."""
    out: dict[int, set[str]] = {}
    with store.read() as conn:
        for chunk in chunked(sorted(set(message_ids))):
            for mid, payload in conn.execute(
                sa.select(deliveries.c.message_id, deliveries.c.payload).where(deliveries.c.message_id.in_(chunk))
            ):
                if isinstance(payload, dict) and payload.get("text"):
                    out.setdefault(mid, set()).add(payload["text"])
    return {mid: sorted(texts) for mid, texts in out.items()}

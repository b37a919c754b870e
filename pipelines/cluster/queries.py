"""What the jobs read from the store: their messages, one patient's leading run of due deliveries, and
what the sweep finds without a job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from renkei.pipelines.holds import NOT_BLOCKING
from renkei.pipelines.schema import PENDING_DELIVERY_STATES, DeliveryState, MessageState, deliveries, messages
from renkei.pipelines.store import DueDelivery, Store

# A RECEIVED message older than this no longer holds later deliveries back (its job failed or was lost:
# the sweep enqueues it again); one failing message must not stall a whole pipeline.
FRONT_WINDOW_SECONDS = 300.0


def received_rows(store: Store, message_ids: Sequence[int]) -> list[sa.Row]:
    """The job's messages still RECEIVED (a retried job finds the ones already processed gone)."""
    with store.read() as conn:
        return conn.execute(
            sa.select(messages.c.id, messages.c.source_key, messages.c.raw)
            .where(messages.c.id.in_(list(message_ids)), messages.c.state == MessageState.RECEIVED)
            .order_by(messages.c.id)
        ).all()


def order_part(store: Store, destination: str, message_id: int) -> str | None:
    """The patient of this message's delivery to `destination` ("message:<id>" when it has none)."""
    with store.read() as conn:
        pid = conn.execute(
            sa.select(deliveries.c.patient_id)
            .where(deliveries.c.message_id == message_id, deliveries.c.destination == destination)
            .limit(1)
        ).scalar()
    if pid is None:
        return None
    return pid or f"message:{message_id}"


@dataclass(slots=True)
class LeadingRun:
    due: list[DueDelivery] = field(default_factory=list)
    behind_front: bool = False  # stopped at a delivery whose earlier messages are still being processed


def leading_run(store: Store, destination: str, part: str, now: float, limit: int = 200) -> LeadingRun:
    """One (destination, patient)'s due deliveries in message order, up to the first that may not go:
    one waiting for its retry time (or held), one behind a blocking DEAD delivery (holds.py), or one of
    a message later than a message of its pipeline still being processed (the processing front), since
    workers process in parallel and a later message may be ready before an earlier one."""
    q = sa.select(deliveries).where(
        deliveries.c.destination == destination,
        deliveries.c.state.in_([*PENDING_DELIVERY_STATES, DeliveryState.DEAD.value]),
    )
    if part.startswith("message:"):
        q = q.where(deliveries.c.patient_id == "", deliveries.c.message_id == int(part.split(":", 1)[1]))
    else:
        q = q.where(deliveries.c.patient_id == part)
    run = LeadingRun()
    fronts: dict[str, float] = {}
    with store.read() as conn:
        for r in conn.execute(q.order_by(deliveries.c.message_id, deliveries.c.id)).all():
            if r.state == DeliveryState.DEAD.value:
                if any(r.last_error.startswith(p) for p in NOT_BLOCKING):
                    continue
                break  # a DEAD head holds the later ones (holds.py marks them when it runs)
            if r.next_attempt_at > now:
                break
            if r.pipeline not in fronts:
                fronts[r.pipeline] = _front(conn, r.pipeline, now)
            if r.message_id >= fronts[r.pipeline]:
                run.behind_front = True
                break
            run.due.append(
                DueDelivery(r.id, r.message_id, r.pipeline, r.destination, r.patient_id, r.attempts,
                            r.first_attempt_at, r.idempotency_key, r.payload)
            )  # fmt: skip
            if len(run.due) >= limit:
                break
    return run


def _front(conn: sa.Connection, pipeline: str, now: float) -> float:
    """The lowest message id of `pipeline` still RECEIVED (recently), or infinity."""
    low = conn.execute(
        sa.select(sa.func.min(messages.c.id)).where(
            messages.c.pipeline == pipeline,
            messages.c.state == MessageState.RECEIVED,
            messages.c.received_at > now - FRONT_WINDOW_SECONDS,
        )
    ).scalar()
    return float("inf") if low is None else float(low)


def due_order_refs(store: Store, now: float) -> list[tuple[str, str, int]]:
    """(destination, patient or message, a message id) of every order key with a due pending delivery."""
    with store.read() as conn:
        rows = conn.execute(
            sa.select(deliveries.c.destination, deliveries.c.patient_id, sa.func.min(deliveries.c.message_id))
            .where(deliveries.c.state.in_(PENDING_DELIVERY_STATES), deliveries.c.next_attempt_at <= now)
            .group_by(deliveries.c.destination, deliveries.c.patient_id)
        ).all()
        out = [(d, pid, mid) for d, pid, mid in rows if pid]
        if any(not pid for _d, pid, _m in rows):  # deliveries without a patient: one order key per message
            for d, mid in conn.execute(
                sa.select(deliveries.c.destination, deliveries.c.message_id).distinct().where(
                    deliveries.c.state.in_(PENDING_DELIVERY_STATES), deliveries.c.next_attempt_at <= now,
                    deliveries.c.patient_id == "",
                )
            ).all():  # fmt: skip
                out.append((d, f"message:{mid}", mid))
    return out


def stale_received(store: Store, older_than: float) -> dict[str, list[int]]:
    """Per pipeline: messages RECEIVED before `older_than` (their job failed for good or never existed)."""
    out: dict[str, list[int]] = {}
    with store.read() as conn:
        for pipeline, mid in conn.execute(
            sa.select(messages.c.pipeline, messages.c.id)
            .where(messages.c.state == MessageState.RECEIVED, messages.c.received_at < older_than)
            .order_by(messages.c.id)
            .limit(5000)
        ).all():
            out.setdefault(pipeline, []).append(mid)
    return out


def active_delivery_locks(store: Store) -> set[str]:
    """Locks of delivery jobs waiting or running (the sweep adds none for those)."""
    with store.read() as conn:
        return set(
            conn.exec_driver_sql(
                "SELECT lock FROM procrastinate_jobs WHERE status IN ('todo', 'doing') AND lock LIKE 'deliver:%%'"
            ).scalars()
        )

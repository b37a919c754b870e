"""A DEAD delivery holds its patient's later deliveries to the same destination, so a timeline never
shows a later message before an earlier one that is still missing.

A held delivery keeps its state (QUEUED or ERROR), gets the reason "held behind delivery N (DEAD)" and a
next attempt time that never comes, so `due_deliveries` passes over it (and, by its per-patient order
rule, over everything after it). `refresh` applies the rule both ways before each delivery round: rows
behind a blocking DEAD head are held, and held rows whose head was reprocessed (or skipped) are released
with their age clock restarted, so an operator's wait does not count against `max_age_seconds`.

Not every DEAD delivery blocks: gate refusals (consent, no linked group) and a physician's rejection are
decided per delivery anyway, and a head the operator skipped (`renkei reprocess --skip`) lets the rest go.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import sqlalchemy as sa

from renkei.pipelines import audit
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.schema import PENDING_DELIVERY_STATES, DeliveryState, deliveries
from renkei.pipelines.store import Store

HELD_UNTIL = 32503680000.0  # 3000-01-01 UTC: a next attempt that never comes; only `refresh` releases the row
HOLD_REASON = "held behind delivery {head} (DEAD)"
HOLD_PREFIX = "held behind delivery "
SKIPPED_PREFIX = "skipped by operator: "
# last_error prefixes of DEAD deliveries that do not hold later ones (see the module docstring)
NOT_BLOCKING = ("RefusedError", "rejected:", SKIPPED_PREFIX)
_CHUNK = 400
_COLUMNS = (deliveries.c.id, deliveries.c.destination, deliveries.c.patient_id, deliveries.c.last_error)

OrderKey = tuple[str, str]  # (destination, patient id)


def blocking_heads(conn: sa.Connection) -> dict[OrderKey, int]:
    """Per (destination, patient): the id of the earliest DEAD delivery that holds the later ones."""
    q = (
        sa.select(deliveries.c.destination, deliveries.c.patient_id, sa.func.min(deliveries.c.id))
        .where(deliveries.c.state == DeliveryState.DEAD.value, deliveries.c.patient_id != "")
        .where(*(sa.not_(deliveries.c.last_error.startswith(p, autoescape=True)) for p in NOT_BLOCKING))
        .group_by(deliveries.c.destination, deliveries.c.patient_id)
    )
    return {(dest, pid): head for dest, pid, head in conn.execute(q).all()}


def refresh(store: Store) -> tuple[int, int]:
    """Hold what a DEAD head blocks, release what no longer is; returns (newly held, released)."""
    with store.read() as conn:
        heads = blocking_heads(conn)
        pending = _pending_of(conn, heads) if heads else []
        held_now = conn.execute(
            sa.select(*_COLUMNS).where(
                deliveries.c.state.in_(PENDING_DELIVERY_STATES), deliveries.c.last_error.startswith(HOLD_PREFIX)
            )
        ).all()
    to_hold = []
    for did, dest, pid, last_error in pending:
        head = heads[(dest, pid)]
        reason = HOLD_REASON.format(head=head)
        if did > head and last_error != reason:
            to_hold.append({"did": did, "err": reason})
    to_release = [
        {"did": did}
        for did, dest, pid, _err in held_now
        if (head := heads.get((dest, pid))) is None or did < head
    ]
    if not to_hold and not to_release:
        return 0, 0
    now = time.time()
    with store.write(redoable=True) as conn:  # redone by the next round if lost
        if to_hold:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id == sa.bindparam("did"))
                .values(next_attempt_at=HELD_UNTIL, last_error=sa.bindparam("err")),
                to_hold,
            )
        if to_release:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id == sa.bindparam("did"))
                .values(next_attempt_at=now, last_error="", first_attempt_at=None),
                to_release,
            )
    return len(to_hold), len(to_release)


def _pending_of(conn: sa.Connection, heads: dict[OrderKey, int]) -> list[sa.Row]:
    keys = list(heads)
    rows: list[sa.Row] = []
    for i in range(0, len(keys), _CHUNK):
        rows += conn.execute(
            sa.select(*_COLUMNS)
            .where(deliveries.c.state.in_(PENDING_DELIVERY_STATES))
            .where(sa.tuple_(deliveries.c.destination, deliveries.c.patient_id).in_(keys[i : i + _CHUNK]))
        ).all()
    return rows


def skip(store: Store, message_ids: Iterable[int], actor: str = "") -> dict[int, int]:
    """Let later messages go past these messages' DEAD deliveries (which stay DEAD, marked skipped, and
    can still be reprocessed). Returns the number of deliveries skipped per message."""
    out: dict[int, int] = {}
    with store.write() as conn:
        for mid in message_ids:
            rows = conn.execute(
                sa.select(deliveries.c.id, deliveries.c.patient_id, deliveries.c.last_error).where(
                    deliveries.c.message_id == mid, deliveries.c.state == DeliveryState.DEAD.value
                )
            ).all()
            todo = [r for r in rows if not r.last_error.startswith(NOT_BLOCKING)]
            for r in todo:
                conn.execute(
                    deliveries.update().where(deliveries.c.id == r.id).values(last_error=SKIPPED_PREFIX + r.last_error)
                )
            audit.append(
                conn,
                [AuditEntry("delivery.skip", r.patient_id, f"delivery:{r.id}", f"message:{mid}", actor) for r in todo],
            )
            out[mid] = len(todo)
    return out


"""A DEAD delivery holds its patient's later deliveries to the same destination, so a timeline never
shows a later message before an earlier one that is still missing.

A held delivery keeps its state (QUEUED or ERROR), gets the reason "held behind delivery N (DEAD)" and a
next attempt time that never comes, so `due_deliveries` passes over it (and, by its per-patient order
rule, over everything after it). `DeliveryHolds.refresh` applies the rule both ways before each round: rows
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

OrderKey = tuple[str, str]  # (destination, patient id)
FULL_CHECK_EVERY = 60.0  # seconds: also look at every held row now and then (e.g. after an approval)


def _heads_query() -> sa.Select:
    """Per (destination, patient): the earliest DEAD delivery that holds the later ones."""
    return (
        sa.select(deliveries.c.destination, deliveries.c.patient_id, sa.func.min(deliveries.c.id).label("head"))
        .where(deliveries.c.state == DeliveryState.DEAD.value, deliveries.c.patient_id != "")
        .where(*(sa.not_(deliveries.c.last_error.startswith(p, autoescape=True)) for p in NOT_BLOCKING))
        .group_by(deliveries.c.destination, deliveries.c.patient_id)
    )


class DeliveryHolds:
    """Applies the rule for one engine. The blocking heads are few and cheap to list (DEAD rows, indexed
    by state); the pending rows are many, so all of them are checked only when the heads changed (or every
    FULL_CHECK_EVERY seconds), and otherwise only those queued or made pending again since the last look.
    (100,000 pending deliveries behind 2,000 heads on SQLite: about 1 s for a full check, 0.1 s otherwise.)"""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._heads: dict[OrderKey, int] | None = None
        self._seen_id = 0
        self._full_at = 0.0
        self._checked_at = 0.0

    def refresh(self) -> tuple[int, int]:
        """Hold what a DEAD head blocks, release what no longer is; returns (newly held, released)."""
        now = time.time()
        with self.store.read() as conn:
            heads = {(dest, pid): head for dest, pid, head in conn.execute(_heads_query()).all()}
            top = conn.execute(sa.select(sa.func.max(deliveries.c.id))).scalar() or 0
            full = heads != self._heads or now - self._full_at >= FULL_CHECK_EVERY
            since = None if full else (self._seen_id, self._checked_at - 1.0)
            to_hold = self._behind_heads(conn, since) if heads else []
            to_release = self._released(conn, heads) if full else []
        if to_hold or to_release:
            with self.store.write(redoable=True) as conn:  # redone by the next round if lost
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
        self._heads, self._seen_id, self._checked_at = heads, top, now
        if full:
            self._full_at = now
        return len(to_hold), len(to_release)

    @staticmethod
    def _behind_heads(conn: sa.Connection, since: tuple[int, float] | None) -> list[dict[str, object]]:
        """Pending rows behind a head; with `since` (last id seen, last look), only rows queued since
        then or made pending again since then (reprocess and approval set next_attempt_at to now)."""
        h = _heads_query().subquery()
        q = (
            sa.select(deliveries.c.id, deliveries.c.last_error, h.c.head)
            .join(h, sa.and_(deliveries.c.destination == h.c.destination, deliveries.c.patient_id == h.c.patient_id))
            .where(deliveries.c.state.in_(PENDING_DELIVERY_STATES), deliveries.c.id > h.c.head)
        )
        if since is not None:
            q = q.where(sa.or_(deliveries.c.id > since[0], deliveries.c.next_attempt_at >= since[1]))
        rows = conn.execute(q).all()
        return [
            {"did": did, "err": HOLD_REASON.format(head=head)}
            for did, last_error, head in rows
            if last_error != HOLD_REASON.format(head=head)
        ]

    @staticmethod
    def _released(conn: sa.Connection, heads: dict[OrderKey, int]) -> list[dict[str, object]]:
        held = conn.execute(
            sa.select(deliveries.c.id, deliveries.c.destination, deliveries.c.patient_id).where(
                deliveries.c.state.in_(PENDING_DELIVERY_STATES), deliveries.c.last_error.startswith(HOLD_PREFIX)
            )
        ).all()
        return [{"did": did} for did, dest, pid in held if (head := heads.get((dest, pid))) is None or did < head]


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

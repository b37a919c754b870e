"""The delivery queue: what is due (per destination and patient, in order), receipts, and outcomes."""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa

from renkei.db import chunked, upsert
from renkei.pipelines import audit
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.schema import (
    PENDING_DELIVERY_STATES,
    DeliveryState,
    MessageState,
    deliveries,
    idempotency,
    messages,
)
from renkei.pipelines.store.connection import StoreConnection
from renkei.pipelines.store.items import QUARANTINED_RECORDS, DeliveryOutcome, DueDelivery


class DeliveryQueue(StoreConnection):
    def due_deliveries(
        self, now: float, limit: int = 1000, destinations: Sequence[str] | None = None
    ) -> list[DueDelivery]:
        """Pending deliveries that may go now, oldest first, at most `limit`.

        Per (destination, patient) only a leading run of due deliveries is returned: a delivery waiting
        for its retry time holds back that patient's later ones (order), but no other patient's.
        """
        held: set[tuple[str, str]] = set()
        due: list[DueDelivery] = []
        after = 0
        with self.read() as conn:
            while len(due) < limit:
                q = (
                    sa.select(deliveries)
                    .where(deliveries.c.state.in_(PENDING_DELIVERY_STATES), deliveries.c.id > after)
                    .order_by(deliveries.c.id)
                    .limit(max(limit * 2, 200))
                )
                if destinations is not None:
                    q = q.where(deliveries.c.destination.in_(destinations))
                rows = conn.execute(q).all()
                if not rows:
                    break
                for r in rows:
                    after = r.id
                    d = DueDelivery(
                        r.id,
                        r.message_id,
                        r.pipeline,
                        r.destination,
                        r.patient_id,
                        r.attempts,
                        r.first_attempt_at,
                        r.idempotency_key,
                        r.payload,
                    )
                    if d.order_key in held:
                        continue
                    if r.next_attempt_at > now:
                        held.add(d.order_key)
                        continue
                    due.append(d)
                    if len(due) >= limit:
                        break
        return due

    def known_receipts(self, destination: str, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        with self.read() as conn:
            rows = conn.execute(
                sa.select(idempotency.c.key, idempotency.c.receipt).where(
                    idempotency.c.destination == destination, idempotency.c.key.in_(set(keys))
                )
            )
            return dict(rows.all())

    def save_delivery_outcomes(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        if not outcomes:
            return
        now = time.time()
        with self.write(redoable=True, serialised=False) as conn:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id == sa.bindparam("did"))
                .values(
                    state=sa.bindparam("st"),
                    attempts=sa.bindparam("att"),
                    first_attempt_at=sa.bindparam("first"),
                    next_attempt_at=sa.bindparam("nxt"),
                    last_error=sa.bindparam("err"),
                    receipt=sa.bindparam("rcpt"),
                ),
                [
                    {
                        "did": o.delivery.id,
                        "st": o.state.value,
                        "att": o.delivery.attempts + 1,
                        "first": o.delivery.first_attempt_at or o.attempted_at or now,
                        "nxt": o.next_attempt_at or now,
                        "err": o.error,
                        "rcpt": o.receipt,
                    }
                    for o in outcomes
                ],
            )
            sent = [
                {
                    "destination": o.delivery.destination,
                    "key": o.delivery.idempotency_key,
                    "receipt": o.receipt,
                    "delivered_at": now,
                }
                for o in outcomes
                if o.state is DeliveryState.SENT and not o.error  # a partial one is re-sent by a reprocess
            ]
            if sent:
                upsert(conn, idempotency, sent, ("destination", "key"), ())
            self._refresh_message_states(conn, {o.delivery.message_id for o in outcomes}, now)
            retries = [
                ((*o.delivery.order_key, o.delivery.message_id), o.next_attempt_at)
                for o in outcomes
                if o.state is DeliveryState.ERROR
            ]
            if retries and self.jobs is not None:
                self.jobs.retry_at(conn, retries)
            audit.append(
                conn,
                (
                    AuditEntry(
                        f"delivery.{o.state.value.lower()}",
                        o.delivery.patient_id,
                        f"delivery:{o.delivery.id}",
                        f"message:{o.delivery.message_id} -> {o.delivery.destination}",
                    )
                    for o in outcomes
                ),
            )

    @staticmethod
    def _refresh_message_states(conn: sa.Connection, message_ids: set[int], now: float) -> None:
        """A message's state summarises its deliveries: DEAD > ERROR > QUEUED > SENT; SENT with some records
        quarantined by a destination (items.quarantine_note) is QUARANTINED, with those reasons."""
        states: dict[int, set[str]] = {}
        notes: dict[int, list[str]] = {}
        ids = sorted(message_ids)
        if conn.dialect.name == "postgresql":
            # Two writers finishing a message's deliveries at once (two destinations, two workers) would
            # each see the other's delivery still pending: lock the messages first, in id order (no
            # deadlock), so the second reads the deliveries after the first commits.
            for chunk in chunked(ids):
                conn.execute(sa.select(messages.c.id).where(messages.c.id.in_(chunk)).order_by(messages.c.id)
                             .with_for_update())  # fmt: skip
        for chunk in chunked(ids):
            for mid, st, err in conn.execute(
                sa.select(deliveries.c.message_id, deliveries.c.state, deliveries.c.last_error).where(
                    deliveries.c.message_id.in_(chunk)
                )
            ).all():
                states.setdefault(mid, set()).add(st)
                if st == DeliveryState.SENT.value and err.startswith(QUARANTINED_RECORDS):
                    notes.setdefault(mid, []).append(err)
        updates = []
        for mid, sts in states.items():
            reason = None
            for candidate in (DeliveryState.DEAD, DeliveryState.ERROR, DeliveryState.QUEUED):
                if candidate.value in sts:
                    new = MessageState(candidate.value)
                    break
            else:
                new = MessageState.QUARANTINED if mid in notes else MessageState.SENT
                reason = " | ".join(notes[mid]) if mid in notes else None
            updates.append({"mid": mid, "st": new.value, "rs": reason})
        for with_reason in (True, False):
            batch = [u for u in updates if (u["rs"] is not None) is with_reason]
            if not batch:
                continue
            values: dict[str, object] = {"state": sa.bindparam("st"), "updated_at": now}
            if with_reason:
                values["reason"] = sa.bindparam("rs")
            else:
                batch = [{"mid": u["mid"], "st": u["st"]} for u in batch]
            conn.execute(messages.update().where(messages.c.id == sa.bindparam("mid")).values(**values), batch)

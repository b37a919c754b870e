"""Processing results: a message's state, records, new deliveries and the patient basics it carried."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from renkei.db import upsert
from renkei.pipelines import audit
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.schema import DeliveryState, MessageState, deliveries, messages, patients
from renkei.pipelines.store.connection import StoreConnection
from renkei.pipelines.store.items import Processed

# Values parsed from input that land in bounded columns. PostgreSQL enforces VARCHAR(n) (SQLite does
# not): one overlong id would fail its whole batch, and the batch again on every run.
_BOUNDED = (("patient id", "patient_id"), ("data type", "data_type"))


def _within_limits(r: Processed) -> Processed:
    """The result itself, or a QUARANTINED one naming the field that does not fit (its value is not quoted)."""
    for label, name in _BOUNDED:
        limit = messages.c[name].type.length
        size = len(getattr(r, name))
        if limit is not None and size > limit:
            reason = f"{label} is {size} characters long; the store keeps at most {limit}"
            return Processed(r.message_id, r.pipeline, MessageState.QUARANTINED, reason=reason, warnings=r.warnings)
    return r


def _order_key(d: dict[str, Any]) -> tuple[str, str]:
    """As DueDelivery.order_key: (destination, patient id, or the message for a message without one)."""
    return (d["destination"], d["patient_id"] or f"message:{d['message_id']}")


class Results(StoreConnection):
    def save_processed(self, results: Sequence[Processed]) -> None:
        if not results:
            return
        results = [_within_limits(r) for r in results]
        now = time.time()
        with self.write(redoable=True, serialised=False) as conn:  # each job's messages are its own rows
            conn.execute(
                messages.update()
                .where(messages.c.id == sa.bindparam("mid"))
                .values(
                    state=sa.bindparam("st"),
                    reason=sa.bindparam("rs"),
                    patient_id=sa.bindparam("pid"),
                    data_type=sa.bindparam("dt"),
                    warnings=sa.bindparam("wn", type_=sa.JSON),
                    records=sa.bindparam("rc", type_=sa.JSON),
                    updated_at=now,
                ),
                [
                    {
                        "mid": r.message_id,
                        "st": r.state.value,
                        "rs": r.reason,
                        "pid": r.patient_id,
                        "dt": r.data_type,
                        "wn": r.warnings,
                        "rc": r.records,
                    }
                    for r in results
                ],
            )
            new = [
                {
                    "message_id": r.message_id,
                    "pipeline": r.pipeline,
                    "destination": d.destination,
                    "patient_id": r.patient_id,
                    "state": DeliveryState.HELD if r.state is MessageState.AWAITING_APPROVAL else DeliveryState.QUEUED,
                    "attempts": 0,
                    "first_attempt_at": None,
                    "next_attempt_at": now,
                    "last_error": "",
                    "idempotency_key": d.idempotency_key,
                    "payload": d.payload,
                    "receipt": "",
                }
                for r in results
                for d in r.deliveries
            ]
            if new:
                conn.execute(deliveries.insert(), new)
                if self.jobs is not None:
                    queued = [d for d in new if d["state"] == DeliveryState.QUEUED]
                    self.jobs.queued(conn, [(*_order_key(d), d["message_id"]) for d in queued])
            basics = {r.patient_id: r.patient_record for r in results if r.patient_record and r.patient_id}
            if basics:
                upsert(
                    conn,
                    patients,
                    [{"patient_id": k, "record": v, "updated_at": now} for k, v in basics.items()],
                    ("patient_id",),
                    ("record", "updated_at"),
                )
            audit.append(
                conn,
                (
                    AuditEntry("message.process", r.patient_id, f"message:{r.message_id}", r.state.value)
                    for r in results
                ),
            )

    def patient_basics(self, patient_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not patient_ids:
            return {}
        with self.read() as conn:
            rows = conn.execute(
                sa.select(patients.c.patient_id, patients.c.record).where(patients.c.patient_id.in_(set(patient_ids)))
            )
            return dict(rows.all())

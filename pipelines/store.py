"""The durable message store: messages, per-destination deliveries, idempotency ledger, source ledger,
patient basics and the audit log, on SQLite (WAL) or PostgreSQL through SQLAlchemy Core.

Durability rule: `receive_many` commits (fsync, `synchronous=FULL`) before it returns, and only then may
a source acknowledge (MLLP ACK, device beep, HTTP 2xx) or advance its ledger. Every later step is one
transaction per batch, so a crash leaves each message in a state the engine resumes from.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from renkei.db import make_engine, upsert
from renkei.pipelines import audit
from renkei.pipelines import people_schema as _people_tables  # noqa: F401 - registers users/sessions tables
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.schema import (
    PENDING_DELIVERY_STATES,
    DeliveryState,
    MessageState,
    deliveries,
    idempotency,
    messages,
    metadata,
    patients,
    source_ledger,
)

DB_FILE = "renkei.sqlite"
STORE_URL_ENV = "RENKEI_STORE_URL"


@dataclass(slots=True)
class Received:
    """One raw input to store. A `read_error` stores it QUARANTINED at once (raw may be empty)."""

    key: str
    fingerprint: str
    raw: bytes
    group: str = ""
    read_error: str = ""


@dataclass(slots=True)
class NewDelivery:
    destination: str
    idempotency_key: str
    payload: dict[str, Any]


@dataclass(slots=True)
class Processed:
    """The outcome of parsing/filtering/transforming one stored message."""

    message_id: int
    pipeline: str
    state: MessageState
    reason: str = ""
    patient_id: str = ""
    data_type: str = ""
    warnings: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] | None = None
    deliveries: list[NewDelivery] = field(default_factory=list)
    patient_record: dict[str, Any] | None = None  # latest patient basics to keep


@dataclass(slots=True)
class DueDelivery:
    id: int
    message_id: int
    pipeline: str
    destination: str
    patient_id: str
    attempts: int
    first_attempt_at: float | None
    idempotency_key: str
    payload: dict[str, Any]

    @property
    def order_key(self) -> tuple[str, str]:
        """Deliveries sharing this key go out strictly in id order."""
        return (self.destination, self.patient_id or f"message:{self.message_id}")


@dataclass(slots=True)
class DeliveryOutcome:
    delivery: DueDelivery
    state: DeliveryState  # SENT, ERROR (retry at next_attempt_at) or DEAD
    receipt: str = ""
    error: str = ""
    next_attempt_at: float = 0.0
    attempted_at: float = 0.0


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


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self._writer = make_engine(url, immediate=True)
        self._redoable_writer = make_engine(url, immediate=True, durable=False)
        self._reader = make_engine(url, immediate=False)
        metadata.create_all(self._writer)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Store:
        """The store every command and process of this data folder uses: SQLite in the folder, or the
        database named by $RENKEI_STORE_URL (e.g. postgresql+psycopg://renkei@db:5432/renkei). An
        environment variable, like RENKEI_DATA, so the service, its worker and every operator command
        open the same store, and the URL (a secret when it holds a password) is never written in a file."""
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(os.environ.get(STORE_URL_ENV) or f"sqlite:///{data_dir / DB_FILE}")

    def close(self) -> None:
        self._writer.dispose()
        self._redoable_writer.dispose()
        self._reader.dispose()

    @contextmanager
    def write(self, *, redoable: bool = False) -> Iterator[sa.Connection]:
        """One write transaction. `redoable=True` skips the fsync on commit (SQLite): for results that a
        restart recomputes anyway; anything acknowledged or decided by a person is written durably."""
        with (self._redoable_writer if redoable else self._writer).begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self._reader.connect() as conn:
            yield conn

    # -- receiving -------------------------------------------------------------------------------
    def ledger_groups(self, pipeline: str, groups: Sequence[str]) -> dict[str, str]:
        """key -> fingerprint of every input of these groups already stored."""
        out: dict[str, str] = {}
        with self.read() as conn:
            for i in range(0, len(groups), 500):
                rows = conn.execute(
                    sa.select(source_ledger.c.key, source_ledger.c.fingerprint).where(
                        source_ledger.c.pipeline == pipeline, source_ledger.c.grp.in_(groups[i : i + 500])
                    )
                )
                out.update(rows.all())
        return out

    def receive_many(self, pipeline: str, source: str, items: Sequence[Received]) -> list[int]:
        """Store raw inputs durably (committed on return) and advance the source ledger with them."""
        if not items:
            return []
        with self.write() as conn:
            return self._insert_received(conn, pipeline, source, items)

    def receive_new(self, pipeline: str, source: str, items: Sequence[Received]) -> list[tuple[int, bool]]:
        """Like receive_many for push sources, but an item whose key is already stored (or repeats within
        the batch) is not stored again: per item, (message id, duplicate). The check and the insert share
        one transaction, so two concurrent deliveries of the same message cannot both be stored."""
        if not items:
            return []
        with self.write() as conn:
            known: dict[str, int] = {}
            keys = sorted({it.key for it in items})
            for i in range(0, len(keys), 500):
                known.update(
                    conn.execute(
                        sa.select(source_ledger.c.key, source_ledger.c.message_id).where(
                            source_ledger.c.pipeline == pipeline, source_ledger.c.key.in_(keys[i : i + 500])
                        )
                    ).all()
                )
            fresh: dict[str, Received] = {}
            for it in items:
                if it.key not in known:
                    fresh.setdefault(it.key, it)
            ids = self._insert_received(conn, pipeline, source, list(fresh.values()))
        new_ids = dict(zip(fresh, ids, strict=True))
        out, first = [], set()
        for it in items:
            if it.key in new_ids and it.key not in first:
                first.add(it.key)
                out.append((new_ids[it.key], False))
            else:
                out.append((known.get(it.key) or new_ids[it.key], True))
        return out

    def _insert_received(self, conn: sa.Connection, pipeline: str, source: str, items: Sequence[Received]) -> list[int]:
        if not items:
            return []
        now = time.time()
        rows = [
            {
                "pipeline": pipeline,
                "source": source,
                "source_key": it.key,
                "fingerprint": it.fingerprint,
                "received_at": now,
                "updated_at": now,
                "state": MessageState.QUARANTINED if it.read_error else MessageState.RECEIVED,
                "patient_id": "",
                "data_type": "",
                "reason": it.read_error,
                "warnings": [],
                "raw": it.raw,
                "records": None,
            }
            for it in items
        ]
        ids = [
            r[0] for r in conn.execute(messages.insert().returning(messages.c.id, sort_by_parameter_order=True), rows)
        ]
        ledger_rows = [
            {"pipeline": pipeline, "key": it.key, "grp": it.group, "fingerprint": it.fingerprint, "message_id": mid}
            for it, mid in zip(items, ids, strict=True)
        ]
        upsert(conn, source_ledger, ledger_rows, ("pipeline", "key"), ("grp", "fingerprint", "message_id"))
        audit.append(
            conn,
            (
                AuditEntry("message.receive", "", f"message:{mid}", f"{source} {it.key}")
                for it, mid in zip(items, ids, strict=True)
            ),
        )
        return ids

    def received_messages(self, pipeline: str, after_id: int = 0, limit: int = 500) -> list[sa.Row]:
        """Stored but not yet processed (e.g. after a crash, or reset by reprocess)."""
        with self.read() as conn:
            return conn.execute(
                sa.select(messages.c.id, messages.c.source_key, messages.c.raw)
                .where(
                    messages.c.pipeline == pipeline, messages.c.state == MessageState.RECEIVED, messages.c.id > after_id
                )
                .order_by(messages.c.id)
                .limit(limit)
            ).all()

    # -- processing ------------------------------------------------------------------------------
    def save_processed(self, results: Sequence[Processed]) -> None:
        if not results:
            return
        results = [_within_limits(r) for r in results]
        now = time.time()
        with self.write(redoable=True) as conn:
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

    # -- delivering ------------------------------------------------------------------------------
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
        with self.write(redoable=True) as conn:
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
                if o.state is DeliveryState.SENT
            ]
            if sent:
                upsert(conn, idempotency, sent, ("destination", "key"), ())
            self._refresh_message_states(conn, {o.delivery.message_id for o in outcomes}, now)
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
        """A message's state summarises its deliveries: DEAD > ERROR > QUEUED > SENT."""
        states: dict[int, set[str]] = {}
        ids = sorted(message_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for mid, st in conn.execute(
                sa.select(deliveries.c.message_id, deliveries.c.state).where(deliveries.c.message_id.in_(chunk))
            ).all():
                states.setdefault(mid, set()).add(st)
        updates = []
        for mid, sts in states.items():
            for candidate in (DeliveryState.DEAD, DeliveryState.ERROR, DeliveryState.QUEUED):
                if candidate.value in sts:
                    new = MessageState(candidate.value)
                    break
            else:
                new = MessageState.SENT
            updates.append({"mid": mid, "st": new.value})
        if updates:
            conn.execute(
                messages.update()
                .where(messages.c.id == sa.bindparam("mid"))
                .values(state=sa.bindparam("st"), updated_at=now),
                updates,
            )

    # -- operators -------------------------------------------------------------------------------
    def counts(self) -> dict[str, dict[str, int]]:
        """Messages per pipeline and state."""
        return self._counts_by(messages.c.pipeline, messages.c.state)

    def delivery_counts(self) -> dict[str, dict[str, int]]:
        """Deliveries per destination and state."""
        return self._counts_by(deliveries.c.destination, deliveries.c.state)

    def _counts_by(self, key: sa.Column, state: sa.Column) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        with self.read() as conn:
            for k, st, n in conn.execute(sa.select(key, state, sa.func.count()).group_by(key, state)):
                out.setdefault(k, {})[st] = n
        return out

    def list_messages(
        self, *, pipeline: str | None = None, state: str | None = None, patient_id: str | None = None, limit: int = 50
    ) -> list[sa.Row]:
        cols = [c for c in messages.c if c.name not in ("raw", "records")]
        q = sa.select(*cols).order_by(messages.c.id.desc()).limit(limit)
        if pipeline:
            q = q.where(messages.c.pipeline == pipeline)
        if state:
            q = q.where(messages.c.state == state)
        if patient_id:
            q = q.where(messages.c.patient_id == patient_id)
        with self.read() as conn:
            return conn.execute(q).all()

    def get_message(self, message_id: int) -> tuple[sa.Row | None, list[sa.Row]]:
        with self.read() as conn:
            msg = conn.execute(sa.select(messages).where(messages.c.id == message_id)).first()
            dels = conn.execute(
                sa.select(deliveries).where(deliveries.c.message_id == message_id).order_by(deliveries.c.id)
            ).all()
            return msg, dels

    def messages_in_states(self, pipeline: str, states: Sequence[str]) -> list[sa.Row]:
        with self.read() as conn:
            return conn.execute(
                sa.select(messages.c.id, messages.c.source_key, messages.c.state, messages.c.pipeline)
                .where(messages.c.pipeline == pipeline, messages.c.state.in_(states))
                .order_by(messages.c.id)
            ).all()

    def reset_for_reprocess(self, message_id: int, new_raw: bytes | None, fingerprint: str | None = None) -> str:
        """Put one QUARANTINED/FILTERED message back to RECEIVED (with fixed raw bytes if given), or a
        DEAD/ERROR one's failed deliveries back to QUEUED. Returns the message's new state."""
        now = time.time()
        with self.write() as conn:
            msg = conn.execute(
                sa.select(messages.c.state, messages.c.patient_id).where(messages.c.id == message_id)
            ).first()
            if msg is None:
                raise KeyError(message_id)
            if msg.state in (MessageState.DEAD, MessageState.ERROR):
                conn.execute(
                    deliveries.update()
                    .where(deliveries.c.message_id == message_id, deliveries.c.state.in_(("DEAD", "ERROR")))
                    .values(
                        state=DeliveryState.QUEUED,
                        attempts=0,
                        first_attempt_at=None,
                        next_attempt_at=now,
                        last_error="",
                    )
                )
                new_state = MessageState.QUEUED
            else:
                values: dict[str, Any] = {"reason": "", "warnings": [], "records": None}
                if new_raw is not None:
                    values["raw"] = new_raw
                if fingerprint is not None:  # re-read from the source: the ledger now knows this version
                    values["fingerprint"] = fingerprint
                    conn.execute(
                        source_ledger.update()
                        .where(source_ledger.c.message_id == message_id)
                        .values(fingerprint=fingerprint)
                    )
                conn.execute(messages.update().where(messages.c.id == message_id).values(**values))
                new_state = MessageState.RECEIVED
            conn.execute(messages.update().where(messages.c.id == message_id).values(state=new_state, updated_at=now))
            audit.append(
                conn,
                [
                    AuditEntry(
                        "message.reprocess", msg.patient_id, f"message:{message_id}", f"{msg.state} -> {new_state}"
                    )
                ],
            )
            return new_state.value

    def decide_approval(self, message_id: int, approve: bool, note: str = "", actor: str = "") -> str:
        """A physician's decision on a message AWAITING_APPROVAL: its deliveries go (QUEUED) or never go.
        `actor` is the renkei user who decided (the audit entry's actor)."""
        now = time.time()
        with self.write() as conn:
            msg = conn.execute(
                sa.select(messages.c.state, messages.c.patient_id).where(messages.c.id == message_id)
            ).first()
            if msg is None or msg.state != MessageState.AWAITING_APPROVAL:
                raise KeyError(message_id)
            held = deliveries.c.message_id == message_id, deliveries.c.state == DeliveryState.HELD
            if approve:
                conn.execute(deliveries.update().where(*held).values(state=DeliveryState.QUEUED, next_attempt_at=now))
                new_state, reason = MessageState.QUEUED, ""
            else:
                conn.execute(
                    deliveries.update().where(*held).values(state=DeliveryState.DEAD, last_error=f"rejected: {note}")
                )
                new_state, reason = MessageState.FILTERED, f"rejected by a physician: {note}"
            conn.execute(
                messages.update()
                .where(messages.c.id == message_id)
                .values(state=new_state, reason=reason, updated_at=now)
            )
            action = "approval.approve" if approve else "approval.reject"
            audit.append(conn, [AuditEntry(action, msg.patient_id, f"message:{message_id}", note, actor=actor)])
            return new_state.value

    def audit(self, entries: Sequence[AuditEntry]) -> None:
        with self.write() as conn:
            audit.append(conn, entries)

    def verify_audit(self, anchor: str = "") -> audit.VerifyResult:
        with self.read() as conn:
            return audit.verify(conn, anchor=anchor)

"""Receiving: raw inputs stored durably with the source ledger, before anything acknowledges them."""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa

from renkei.db import chunked, upsert
from renkei.pipelines import audit
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.schema import MessageState, messages, source_ledger
from renkei.pipelines.store.connection import StoreConnection
from renkei.pipelines.store.items import Received

# First key of the two-key advisory lock a push source's duplicate check takes (the second: the pipeline).
RECEIVE_LOCK = 0x726B7276  # "rkrv"


class Receiving(StoreConnection):
    def ledger_groups(self, pipeline: str, groups: Sequence[str]) -> dict[str, str]:
        """key -> fingerprint of every input of these groups already stored."""
        out: dict[str, str] = {}
        with self.read() as conn:
            for chunk in chunked(groups):
                rows = conn.execute(
                    sa.select(source_ledger.c.key, source_ledger.c.fingerprint).where(
                        source_ledger.c.pipeline == pipeline, source_ledger.c.grp.in_(chunk)
                    )
                )
                out.update(rows.all())
        return out

    def receive_many(self, pipeline: str, source: str, items: Sequence[Received]) -> list[int]:
        """Store raw inputs durably (committed on return) and advance the source ledger with them."""
        if not items:
            return []
        with self.write(serialised=False) as conn:  # plain inserts; one scan per pipeline at a time
            return self._insert_received(conn, pipeline, source, items)

    def receive_new(self, pipeline: str, source: str, items: Sequence[Received]) -> list[tuple[int, bool]]:
        """Like receive_many for push sources, but an item whose key is already stored (or repeats within
        the batch) is not stored again: per item, (message id, duplicate). The check and the insert share
        one transaction, so two concurrent deliveries of the same message cannot both be stored."""
        if not items:
            return []
        with self.write(serialised=False) as conn:
            if self._pg:  # listeners on several hosts: one duplicate check at a time per pipeline
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(RECEIVE_LOCK, sa.func.hashtext(pipeline))))
            known: dict[str, int] = {}
            keys = sorted({it.key for it in items})
            for chunk in chunked(keys):
                known.update(
                    conn.execute(
                        sa.select(source_ledger.c.key, source_ledger.c.message_id).where(
                            source_ledger.c.pipeline == pipeline, source_ledger.c.key.in_(chunk)
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
        if self.jobs is not None:
            self.jobs.received(conn, pipeline, [mid for it, mid in zip(items, ids, strict=True) if not it.read_error])
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

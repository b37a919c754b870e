"""Operator queries: counts per state, message lists and one message with its deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from renkei.db import chunked
from renkei.pipelines.schema import deliveries, messages
from renkei.pipelines.store.connection import StoreConnection


class Queries(StoreConnection):
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

    def message_records(self, message_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """message id -> its canonical records (as dicts; [] when not parsed)."""
        out: dict[int, list[dict[str, Any]]] = {}
        with self.read() as conn:
            for chunk in chunked(sorted(set(message_ids))):
                for mid, records in conn.execute(
                    sa.select(messages.c.id, messages.c.records).where(messages.c.id.in_(chunk))
                ).all():
                    out[mid] = records or []
        return out

    def messages_in_states(self, pipeline: str, states: Sequence[str]) -> list[sa.Row]:
        with self.read() as conn:
            return conn.execute(
                sa.select(messages.c.id, messages.c.source_key, messages.c.state, messages.c.pipeline)
                .where(messages.c.pipeline == pipeline, messages.c.state.in_(states))
                .order_by(messages.c.id)
            ).all()

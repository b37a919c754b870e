"""Operators' and physicians' decisions on one message: reprocess it, approve or reject what it holds."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from renkei.errors import RefusedError
from renkei.pipelines import audit
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.schema import DeliveryState, MessageState, deliveries, messages, source_ledger
from renkei.pipelines.store.connection import StoreConnection
from renkei.pipelines.store.items import QUARANTINED_RECORDS


def pruned_note(pruned: str, pruned_at: float | None) -> str:
    """What retention dropped from a message and when, e.g. "raw, records, payloads pruned on
    2026-12-02T03:30:00+00:00 (retention)"."""
    when = datetime.fromtimestamp(pruned_at or 0, UTC).isoformat(timespec="seconds")
    return f"{pruned.replace(',', ', ')} pruned on {when} (retention)"


class Decisions(StoreConnection):
    def reset_for_reprocess(self, message_id: int, new_raw: bytes | None, fingerprint: str | None = None) -> str:
        """Put one QUARANTINED/FILTERED message back to RECEIVED (with fixed raw bytes if given), or a
        DEAD/ERROR one's failed deliveries back to QUEUED. Returns the message's new state."""
        now = time.time()
        with self.write() as conn:
            msg = conn.execute(
                sa.select(messages.c.state, messages.c.patient_id, messages.c.pruned, messages.c.pruned_at).where(
                    messages.c.id == message_id
                )
            ).first()
            if msg is None:
                raise KeyError(message_id)
            if msg.pruned:  # its input (or payloads) is gone: running it again would deliver nothing true
                note = pruned_note(msg.pruned, msg.pruned_at)
                raise RefusedError(f"message {message_id} cannot be reprocessed: {note}")
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
                # Deliveries that went with records quarantined are history now: the new run sends the rest.
                conn.execute(
                    deliveries.update()
                    .where(
                        deliveries.c.message_id == message_id,
                        deliveries.c.last_error.startswith(QUARANTINED_RECORDS, autoescape=True),
                    )
                    .values(last_error="reprocessed; was " + deliveries.c.last_error)
                )
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

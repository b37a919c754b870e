"""Confirming a bedside reading a rule held: the one service `renkei devices confirm` and the tap station use.

A held reading is stored (quarantined with its reason, never posted). A nurse who checked it at the bedside
confirms it: the same reading is ingested again as a new record naming who confirmed it (the held one stays
quarantined as it was) and processed at once. Confirming twice is a ledger duplicate: it posts once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from renkei.connectors.bedside import confirmed_record
from renkei.errors import NotFoundError
from renkei.pipelines.engine import Engine
from renkei.pipelines.schema import MessageState, messages
from renkei.pipelines.store import Store


@dataclass(slots=True, frozen=True)
class Confirmation:
    held_id: int
    new_id: int
    duplicate: bool  # already confirmed before: nothing new was posted
    patient_id: str  # whom the reading belongs to (from the stored tap record)


def confirm_held_reading(engine: Engine, message_id: int, nurse: str) -> Confirmation:
    """Post held reading `message_id`, naming `nurse`; InputError when it is not a held reading."""
    msg, _ = engine.store.get_message(message_id)
    if msg is None:
        raise NotFoundError(f"message {message_id} not found")
    item, raw = confirmed_record(msg.source_key, msg.raw, nurse)
    ((new_id, duplicate),) = engine.ingest(msg.pipeline, [(item, raw)])
    engine.process_pending(msg.pipeline)
    patient_id = str(json.loads(raw.decode("utf-8")).get("patient_id") or "")
    return Confirmation(message_id, new_id, duplicate, patient_id)


def held_readings(store: Store, patient_id: str, limit: int = 20, scan: int = 500) -> list[dict[str, Any]]:
    """The patient's bedside readings held for confirmation and not confirmed yet, newest first (among the
    newest `scan` quarantined messages): [{message_id, received_at, values: [{code, value, unit}]}].

    A quarantined message carries no patient id of its own (it was never parsed into records), so the
    patient is read from the stored tap record."""
    q = (
        sa.select(messages.c.id, messages.c.pipeline, messages.c.source_key, messages.c.received_at, messages.c.raw)
        .where(messages.c.state == MessageState.QUARANTINED.value)
        .order_by(messages.c.id.desc())
        .limit(scan)
    )
    with store.read() as conn:
        rows = conn.execute(q).all()
    out: list[dict[str, Any]] = []
    for row in rows:
        record = _tap_record(row.raw)
        if record is None or record.get("verdict") != "hold" or record.get("patient_id") != patient_id:
            continue
        if _confirmed(store, row.pipeline, row.source_key):
            continue
        values = [{"code": str((o.get("code") or {}).get("code", "")), "value": str(o.get("value", "")),
                   "unit": str(o.get("unit", ""))} for o in record.get("observations") or []]  # fmt: skip
        out.append({"message_id": row.id, "received_at": row.received_at, "values": values})
        if len(out) >= limit:
            break
    return out


def _tap_record(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None  # not a bedside tap record: not something the tap station confirms
    return data if isinstance(data, dict) and "verdict" in data else None


def _confirmed(store: Store, pipeline: str, source_key: str) -> bool:
    q = sa.select(messages.c.id).where(
        messages.c.pipeline == pipeline, messages.c.source_key == f"{source_key}:confirmed"
    )
    with store.read() as conn:
        return conn.execute(q.limit(1)).first() is not None

"""Append-only, hash-chained audit log: who did what to which patient's data, and when.

Each entry's hash covers its own fields and the previous entry's hash, so editing, deleting or
reordering any entry breaks the chain from that point on; `verify` names the first broken entry.
Entries are appended inside the caller's write transaction, which the store serialises (SQLite
BEGIN IMMEDIATE; PostgreSQL takes a table lock), so two writers can never fork the chain.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from renkei.pipelines.schema import audit_log

GENESIS = "0" * 64


@dataclass(slots=True, frozen=True)
class AuditEntry:
    action: str  # e.g. message.receive, delivery.sent, timeline.read, message.show
    patient_id: str  # an EHR id, never a name ("" when none applies)
    object: str  # what was touched: "message:12", "delivery:40", "timeline:9999013"
    detail: str = ""
    actor: str = ""  # filled with the current actor when empty


def current_actor() -> str:
    """The OS user and program, e.g. "nurse1@renkei"; RENKEI_ACTOR overrides (web console, services)."""
    return os.environ.get("RENKEI_ACTOR") or f"{getpass.getuser()}@renkei"


def _digest(
    prev_hash: str, seq: int, at: float, actor: str, action: str, patient_id: str, obj: str, detail: str
) -> str:
    text = "\x1f".join((prev_hash, str(seq), f"{at:.6f}", actor, action, patient_id, obj, detail))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def append(conn: sa.Connection, entries: Iterable[AuditEntry]) -> None:
    entries = list(entries)
    if not entries:
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE audit_log IN EXCLUSIVE MODE")
    last = conn.execute(sa.select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    now = time.time()
    default_actor = current_actor()
    rows = []
    for e in entries:
        seq += 1
        actor = e.actor or default_actor
        h = _digest(prev, seq, now, actor, e.action, e.patient_id, e.object, e.detail)
        rows.append(
            {
                "seq": seq,
                "at": now,
                "actor": actor,
                "action": e.action,
                "patient_id": e.patient_id,
                "object": e.object,
                "detail": e.detail,
                "prev_hash": prev,
                "hash": h,
            }
        )
        prev = h
    conn.execute(audit_log.insert(), rows)


@dataclass(slots=True, frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""
    head: str = ""  # "SEQ:HASH" of the last entry: keep it elsewhere (an anchor) to detect truncation


def verify(conn: sa.Connection, batch: int = 10_000, anchor: str = "") -> VerifyResult:
    """Walk the whole chain in seq order, in batches so memory stays flat.

    The chain alone cannot show that its newest entries were cut off. `anchor` ("SEQ:HASH", the head
    printed by an earlier verify and kept outside the data folder) closes that gap: entry SEQ must still
    exist with that hash.
    """
    anchor_seq, _, anchor_hash = anchor.partition(":")
    prev, expected_seq, count = GENESIS, 1, 0
    last_seq = 0
    anchor_seen = not anchor
    while True:
        rows = conn.execute(
            sa.select(audit_log).where(audit_log.c.seq > last_seq).order_by(audit_log.c.seq).limit(batch)
        ).all()
        if not rows:
            head = f"{last_seq}:{prev}" if count else ""
            if not anchor_seen:
                return VerifyResult(False, count, int(anchor_seq), f"entry {anchor_seq} of the anchor is gone", head)
            return VerifyResult(True, count, head=head)
        for r in rows:
            if r.seq != expected_seq:
                return VerifyResult(False, count, expected_seq, f"entry {expected_seq} is missing")
            if r.prev_hash != prev:
                return VerifyResult(False, count, r.seq, f"entry {r.seq} does not link to entry {r.seq - 1}")
            if _digest(prev, r.seq, r.at, r.actor, r.action, r.patient_id, r.object, r.detail) != r.hash:
                return VerifyResult(False, count, r.seq, f"entry {r.seq} was altered (hash mismatch)")
            if anchor and str(r.seq) == anchor_seq:
                if r.hash != anchor_hash:
                    return VerifyResult(False, count, r.seq, f"entry {r.seq} differs from the anchor")
                anchor_seen = True
            prev, expected_seq, count, last_seq = r.hash, r.seq + 1, count + 1, r.seq

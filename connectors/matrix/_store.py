"""The Matrix connector's small local memory: patient -> room, and what was already sent.

One SQLite file per connector in the data folder. It is a cache of facts the homeserver also holds
(rooms carry a `jp.renkei.patient` state event; sends carry transaction ids), so losing it costs a rescan,
never a duplicate room. Tables:

    rooms(room_id, patient_id)       every joined room seen; patient_id NULL = not a patient room
    parts(idem_key, part, value)     one row per event (or upload) done for a post: resumable posts
    posts(room_id, record_key, idem_key, receipt, version)  the latest post per record, for replace/retract
    deliveries(idem_key, room_id, receipt)         finished deliveries: a repeat returns the receipt
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (room_id TEXT PRIMARY KEY, patient_id TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS ix_rooms_patient ON rooms(patient_id) WHERE patient_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS parts (idem_key TEXT, part TEXT, value TEXT NOT NULL, PRIMARY KEY (idem_key, part));
CREATE TABLE IF NOT EXISTS posts (room_id TEXT, record_key TEXT, idem_key TEXT NOT NULL, receipt TEXT NOT NULL,
                                  version TEXT NOT NULL DEFAULT '', PRIMARY KEY (room_id, record_key));
CREATE TABLE IF NOT EXISTS deliveries (idem_key TEXT PRIMARY KEY, room_id TEXT NOT NULL, receipt TEXT NOT NULL);
"""


class MatrixStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection guarded by a lock: calls are short and the engine may deliver from threads.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        # posts.version (the source version, for replace-by-version) is newer than the ledger format:
        # add it to ledgers made before it (the lead's migration takes this over)
        if "version" not in {r[1] for r in self._db.execute("PRAGMA table_info(posts)")}:
            self._db.execute("ALTER TABLE posts ADD COLUMN version TEXT NOT NULL DEFAULT ''")
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _one(self, sql: str, args: tuple[object, ...]) -> tuple[str, ...] | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        with self._lock:
            self._db.execute(sql, args)

    # rooms
    def room_for(self, patient_id: str) -> str | None:
        row = self._one("SELECT room_id FROM rooms WHERE patient_id = ?", (patient_id,))
        return row[0] if row else None

    def patient_of(self, room_id: str) -> str:
        row = self._one("SELECT patient_id FROM rooms WHERE room_id = ?", (room_id,))
        return row[0] if row and row[0] else ""

    def known_rooms(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT room_id FROM rooms")}

    def remember_room(self, room_id: str, patient_id: str | None) -> None:
        if patient_id is not None:
            # A second room tagged for the same patient (made by hand, or by a lost createRoom reply) is
            # remembered as not the patient's: the first one found stays the patient's room.
            existing = self.room_for(patient_id)
            if existing is not None and existing != room_id:
                patient_id = None
        self._write("INSERT OR REPLACE INTO rooms (room_id, patient_id) VALUES (?, ?)", (room_id, patient_id))

    # parts of a post
    def part(self, idem_key: str, part: str) -> str | None:
        row = self._one("SELECT value FROM parts WHERE idem_key = ? AND part = ?", (idem_key, part))
        return row[0] if row else None

    def remember_part(self, idem_key: str, part: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO parts (idem_key, part, value) VALUES (?, ?, ?)", (idem_key, part, value))

    def event_ids(self, idem_key: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                # Event ids of the post's own messages, not of redactions it made.
                "SELECT value FROM parts WHERE idem_key = ? AND value LIKE '$%' AND part NOT LIKE 'redact:%' "
                "ORDER BY part",
                (idem_key,),
            ).fetchall()
        return [r[0] for r in rows]

    # records and deliveries
    def latest_post(self, room_id: str, record_key: str) -> tuple[str, str, str] | None:
        """(idempotency key, receipt, source version) of the record's current post."""
        sql = "SELECT idem_key, receipt, version FROM posts WHERE room_id = ? AND record_key = ?"
        row = self._one(sql, (room_id, record_key))
        return (row[0], row[1], row[2] or "") if row else None

    def remember_post(self, room_id: str, record_key: str, idem_key: str, receipt: str, version: str = "") -> None:
        self._write(
            "INSERT OR REPLACE INTO posts (room_id, record_key, idem_key, receipt, version) VALUES (?, ?, ?, ?, ?)",
            (room_id, record_key, idem_key, receipt, version),
        )

    def forget_post(self, room_id: str, record_key: str) -> None:
        self._write("DELETE FROM posts WHERE room_id = ? AND record_key = ?", (room_id, record_key))

    def receipt(self, idem_key: str) -> str | None:
        row = self._one("SELECT receipt FROM deliveries WHERE idem_key = ?", (idem_key,))
        return row[0] if row else None

    def remember_delivery(self, idem_key: str, room_id: str, receipt: str) -> None:
        sql = "INSERT OR IGNORE INTO deliveries (idem_key, room_id, receipt) VALUES (?, ?, ?)"
        self._write(sql, (idem_key, room_id, receipt))

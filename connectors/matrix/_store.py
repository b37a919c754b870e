"""The Matrix connector's small local memory: patient -> room, and what was already sent.

One SQLite file per connector in the data folder, its tables under Alembic migrations (history "matrix").
It is a cache of facts the homeserver also holds (rooms carry a `jp.renkei.patient` state event; sends
carry transaction ids), so losing it costs a rescan, never a duplicate room. Tables:

    rooms(room_id, patient_id)       every joined room seen; patient_id NULL = not a patient room
    parts(idem_key, part, value)     one row per event (or upload) done for a post: resumable posts
    posts(room_id, record_key, idem_key, receipt, version)  the latest post per record, for replace/retract
    deliveries(idem_key, room_id, receipt)         finished deliveries: a repeat returns the receipt
    audience_rooms(patient_id, audience, room_id)  a patient's restricted room per audience (matrix_0003)
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from renkei.db_version import DbSchema, open_sqlite_ledger

# The tables as 0.1.0 made them with raw DDL; the queries below stay plain sqlite3.
_md = sa.MetaData()
sa.Table(
    "rooms",
    _md,
    sa.Column("room_id", sa.Text, primary_key=True),
    sa.Column("patient_id", sa.Text, nullable=True),
    sa.Index("ix_rooms_patient", "patient_id", unique=True, sqlite_where=sa.text("patient_id IS NOT NULL")),
)
sa.Table(
    "parts",
    _md,
    sa.Column("idem_key", sa.Text, primary_key=True),
    sa.Column("part", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
sa.Table(
    "posts",
    _md,
    sa.Column("room_id", sa.Text, primary_key=True),
    sa.Column("record_key", sa.Text, primary_key=True),
    sa.Column("idem_key", sa.Text, nullable=False),
    sa.Column("receipt", sa.Text, nullable=False),
    # since matrix_0002: the source version, so an older version never replaces a newer post
    sa.Column("version", sa.Text, nullable=False, server_default=""),
)
sa.Table(
    "deliveries",
    _md,
    sa.Column("idem_key", sa.Text, primary_key=True),
    sa.Column("room_id", sa.Text, nullable=False),
    sa.Column("receipt", sa.Text, nullable=False),
)
sa.Table(
    "audience_rooms",
    _md,
    sa.Column("patient_id", sa.Text, primary_key=True),
    sa.Column("audience", sa.Text, primary_key=True),
    sa.Column("room_id", sa.Text, nullable=False),
)
# The Alembic revision these tables are at (pipelines/migrations/versions/matrix/): see docs/schema.md.
SCHEMA = DbSchema("matrix", "matrix_0003", _md)


class MatrixStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        # One connection guarded by a lock: calls are short and the engine may deliver from threads.
        self._db = open_sqlite_ledger(path, SCHEMA)
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

    # audience rooms
    def audience_room(self, patient_id: str, audience: str) -> str | None:
        sql = "SELECT room_id FROM audience_rooms WHERE patient_id = ? AND audience = ?"
        row = self._one(sql, (patient_id, audience))
        return row[0] if row else None

    def audience_rooms(self, patient_id: str) -> dict[str, str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT audience, room_id FROM audience_rooms WHERE patient_id = ? ORDER BY audience", (patient_id,)
            ).fetchall()
        return {a: r for a, r in rows}

    def remember_audience_room(self, patient_id: str, audience: str, room_id: str) -> None:
        # The first room found for (patient, audience) stays theirs, as for main rooms.
        sql = "INSERT OR IGNORE INTO audience_rooms (patient_id, audience, room_id) VALUES (?, ?, ?)"
        self._write(sql, (patient_id, audience, room_id))

"""The store's connections: one durable writer, one redoable writer (no fsync), one reader."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, Self

import sqlalchemy as sa

from renkei.db import make_engine, take_pg_writer_lock
from renkei.db_version import ensure_current
from renkei.pipelines import audit
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.schema import SCHEMA
from renkei.pipelines.store.writer_turn import WriterTurn

DB_FILE = "renkei.sqlite"
DURABLE_AUTOCHECKPOINT = 10_000  # WAL pages (40 MB): reached only when no redoable writer checkpoints
CHECKPOINT_SECONDS = 0.5  # a redoable writer's checkpoints, at most this often


class JobHook(Protocol):
    """What the job queue needs to hear, inside the write transaction that changed the state."""

    def received(self, conn: sa.Connection, pipeline: str, message_ids: Sequence[int]) -> None: ...

    # a delivery's order reference: (destination, patient id or "message:<id>", its message id)
    def queued(self, conn: sa.Connection, refs: Sequence[tuple[str, str, int]]) -> None: ...

    def retry_at(self, conn: sa.Connection, due: Sequence[tuple[tuple[str, str, int], float]]) -> None: ...


STORE_URL_ENV = "RENKEI_STORE_URL"


class StoreConnection:
    def __init__(self, url: str) -> None:
        self.url = url
        # PostgreSQL: no writer lock on every transaction; `write` takes it where a check-then-write needs it.
        # SQLite checkpoints (copying the WAL back into the database, with an fsync) are moved off the
        # acknowledged path: a commit that crosses the WAL threshold runs one, which was the MLLP ACK's
        # tail while the worker wrote. Redoable writers checkpoint after their turn instead (below); the
        # durable writer only past a far larger WAL, when no redoable writer runs.
        self._writer = make_engine(url, immediate=True, pg_writer_lock=False, autocheckpoint=DURABLE_AUTOCHECKPOINT)
        self._redoable_writer = make_engine(url, immediate=True, durable=False, pg_writer_lock=False, autocheckpoint=0)
        self._checkpointed = time.monotonic()
        self._pg = self._writer.dialect.name == "postgresql"
        # Set by pipelines/cluster when jobs run on procrastinate: told, inside the same transaction, what
        # became RECEIVED, QUEUED or due again, so the next job commits with the state change.
        self.jobs: JobHook | None = None
        self._reader = make_engine(url, immediate=False)
        self._turn = WriterTurn(url)
        try:
            self._ensure_current()
        except BaseException:
            self.close()
            raise

    def _ensure_current(self) -> None:
        if not self._pg:
            ensure_current(self._writer, SCHEMA, "the store", reader=self._reader)
            return
        # Creating a new database must be serialised (stores opened at once create it once): a writer that
        # takes the advisory lock on begin, for this check only.
        creator = make_engine(self.url, immediate=True)
        try:
            ensure_current(creator, SCHEMA, "the store", reader=self._reader)
        finally:
            creator.dispose()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Self:
        """The store every command and process of this data folder uses: SQLite in the folder, or the
        database named by $RENKEI_STORE_URL (e.g. postgresql+psycopg://renkei@db:5432/renkei). An
        environment variable, like RENKEI_DATA, so the service, its worker and every operator command
        open the same store, and the URL (a secret when it holds a password) is never written in a file."""
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(os.environ.get(STORE_URL_ENV) or f"sqlite:///{data_dir / DB_FILE}")

    def close(self) -> None:
        self._turn.close()
        self._writer.dispose()
        self._redoable_writer.dispose()
        self._reader.dispose()

    @contextmanager
    def write(self, *, redoable: bool = False, serialised: bool = True) -> Iterator[sa.Connection]:
        """One write transaction. `redoable=True` skips the fsync on commit (SQLite): for results that a
        restart recomputes anyway; anything acknowledged or decided by a person is written durably.

        `serialised` (PostgreSQL; SQLite's BEGIN IMMEDIATE always serialises): the transaction first takes
        the writer advisory lock, so a check-then-write sees every earlier writer's commit. The hot path
        (storing, processing results, delivery outcomes) passes False: its rows are its own, its
        duplicate checks take narrower locks, and the audit chain serialises its own append."""
        with self._turn.held(), (self._redoable_writer if redoable else self._writer).begin() as conn:
            if serialised and self._pg:
                take_pg_writer_lock(conn)
            yield conn
        if redoable and not self._pg and time.monotonic() - self._checkpointed >= CHECKPOINT_SECONDS:
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Copy the WAL into the database without holding the write turn: PASSIVE neither waits for nor
        blocks writers, so the listener keeps committing meanwhile."""
        self._checkpointed = time.monotonic()
        raw = self._redoable_writer.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            raw.close()

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self._reader.connect() as conn:
            yield conn

    def audit(self, entries: Sequence[AuditEntry]) -> None:
        with self.write() as conn:
            audit.append(conn, entries)

    def verify_audit(self, anchor: str = "") -> audit.VerifyResult:
        with self.read() as conn:
            return audit.verify(conn, anchor=anchor)

"""The store's connections: one durable writer, one redoable writer (no fsync), one reader."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import sqlalchemy as sa

from renkei.db import make_engine
from renkei.db_version import ensure_current
from renkei.pipelines import audit
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.schema import SCHEMA
from renkei.pipelines.store.writer_turn import WriterTurn

DB_FILE = "renkei.sqlite"
STORE_URL_ENV = "RENKEI_STORE_URL"


class StoreConnection:
    def __init__(self, url: str) -> None:
        self.url = url
        self._writer = make_engine(url, immediate=True)
        self._redoable_writer = make_engine(url, immediate=True, durable=False)
        self._reader = make_engine(url, immediate=False)
        self._turn = WriterTurn(url)
        try:
            ensure_current(self._writer, SCHEMA, "the store", reader=self._reader)
        except BaseException:
            self.close()
            raise

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
    def write(self, *, redoable: bool = False) -> Iterator[sa.Connection]:
        """One write transaction. `redoable=True` skips the fsync on commit (SQLite): for results that a
        restart recomputes anyway; anything acknowledged or decided by a person is written durably."""
        with self._turn.held(), (self._redoable_writer if redoable else self._writer).begin() as conn:
            yield conn

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

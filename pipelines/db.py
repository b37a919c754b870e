"""SQLAlchemy engines for renkei's databases, set up the same way everywhere.

SQLite runs in WAL mode with `synchronous=FULL` (a commit survives power loss: required before any
ACK) and writers issue BEGIN IMMEDIATE, so two writers never deadlock upgrading a read lock.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def make_engine(url: str, *, immediate: bool) -> sa.Engine:
    # hide_parameters: a database error's text would otherwise quote the bound values (raw HL7, names)
    # into exception messages and logs.
    engine = sa.create_engine(url, json_serializer=dumps, hide_parameters=True)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (pysqlite's own is unreliable)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def upsert(
    conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], keys: tuple[str, ...], update: tuple[str, ...]
) -> None:
    """INSERT … ON CONFLICT for SQLite and PostgreSQL; `update=()` means do nothing on conflict."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table)
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    conn.execute(stmt, rows)

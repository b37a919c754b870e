"""Which schema revision a database is at, and refusing to run on any other.

Every renkei database (the store, the built-in timeline, the device registry, each Matrix and webhook
ledger) records its Alembic revision in Alembic's own `alembic_version` table. The migrations live in
`pipelines/migrations/` (one Alembic history per kind of database); the code that owns the tables declares
the revision its table definitions are at (`DbSchema.revision`), and opens its database through
`ensure_current`:

- a brand-new database gets the tables and is stamped at that revision (Alembic's recipe for a fresh
  database: create_all, then stamp head);
- a database at that revision opens;
- any other (a 0.1.0 folder without a version, an older revision, or one written by a newer renkei) is
  refused with `SchemaVersionError`, which names `renkei db upgrade`.

No Alembic import here: opening a database stays as cheap as before (one small SELECT).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from renkei.db import make_engine
from renkei.errors import RenkeiError

VERSION_TABLE = "alembic_version"

# Alembic's own version table, as it creates it (so `alembic` and `renkei db` read the same row).
_version_md = sa.MetaData()
version_table = sa.Table(
    VERSION_TABLE,
    _version_md,
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


class SchemaVersionError(RenkeiError):
    """A database's schema is not the one this code is written for; nothing runs until it is upgraded."""


@dataclass(frozen=True, slots=True)
class DbSchema:
    """The tables of one kind of database and the Alembic revision their definitions are at."""

    kind: str  # "store", "timeline", …: its alembic.ini section and versions/<kind>/ history
    revision: str  # the head of that history: bump it with every new revision (docs/schema.md)
    metadata: sa.MetaData


def current_revision(conn: sa.Connection) -> str | None:
    """The revision recorded in the database, or None when it has no version table (new or 0.1.0)."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(sa.select(version_table.c.version_num)).scalars().all()
    return rows[0] if len(rows) == 1 else ",".join(sorted(rows)) or None


def is_blank(conn: sa.Connection, schema: DbSchema) -> bool:
    """True when none of the schema's tables exists yet (a new database, or one holding only others' tables)."""
    existing = set(sa.inspect(conn).get_table_names())
    return not existing.intersection(schema.metadata.tables)


def stamp(conn: sa.Connection, revision: str) -> None:
    """Record `revision` as the database's one current revision (what `alembic stamp` writes)."""
    _version_md.create_all(conn)
    conn.execute(sa.delete(version_table))
    conn.execute(sa.insert(version_table).values(version_num=revision))


def create_at_head(conn: sa.Connection, schema: DbSchema) -> None:
    schema.metadata.create_all(conn)
    stamp(conn, schema.revision)


def refusal(where: str, schema: DbSchema, found: str | None) -> SchemaVersionError:
    state = f"is at schema revision {found}" if found else "has no schema version (it was made by renkei 0.1.0)"
    return SchemaVersionError(
        f"{where} {state}; this renkei needs revision {schema.revision}. Run `renkei db upgrade` "
        "(back the data folder up first: `renkei backup DEST`); a database written by a newer renkei "
        "needs that newer renkei."
    )


def ensure_current(engine: sa.Engine, schema: DbSchema, where: str, reader: sa.Engine | None = None) -> None:
    """Create a brand-new database at the code's revision, accept one already there, refuse any other.

    `engine` must be a writer (renkei.db.make_engine(..., immediate=True)): the check is repeated inside
    one write transaction, so processes opening a new database at once create it exactly once.
    `where` names the database in the refusal (a file name, never a URL with a password); `reader`, when
    given, makes the usual case (already current) a plain read that waits for no writer."""
    with (reader or engine).connect() as conn:
        found = current_revision(conn)
        conn.rollback()
    if found == schema.revision:
        return
    with engine.begin() as conn:
        found = current_revision(conn)
        if found == schema.revision:
            return
        if found is None and is_blank(conn, schema):
            create_at_head(conn, schema)
            return
    raise refusal(where, schema, found)


def open_sqlite_ledger(path: Path, schema: DbSchema) -> sqlite3.Connection:
    """A plain sqlite3 connection (autocommit, shareable between threads under the caller's lock) to a
    connector's ledger file, once its schema is created or found current."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{path}", immediate=True)  # also switches the file to WAL
    try:
        ensure_current(engine, schema, str(path))
    finally:
        engine.dispose()
    return sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)

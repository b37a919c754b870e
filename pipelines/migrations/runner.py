"""`renkei db upgrade` and `renkei db current`: bring each database of a data folder to its history's head
with Alembic, or tell where each stands. Alembic is imported here only, when a command asks for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from renkei.db import make_engine
from renkei.db_version import SchemaVersionError, current_revision, is_blank, refusal, stamp
from renkei.pipelines.migrations.catalog import Database, databases

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

HERE = Path(__file__).resolve().parent


def alembic_config(kind: str, script_location: Path | None = None) -> Config:
    """The shipped configuration of one kind of database (its alembic.ini section); `script_location`
    points at another script directory (tests use a copy holding one revision more, as the next release)."""
    from alembic.config import Config

    cfg = Config(str(HERE / "alembic.ini"), ini_section=kind)
    if script_location is not None:
        cfg.set_section_option(kind, "script_location", str(script_location))
        cfg.set_section_option(kind, "version_locations", str(script_location / "versions" / kind))
    return cfg


def script_directory(kind: str, script_location: Path | None = None) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(kind, script_location))


def head_of(script: ScriptDirectory) -> str:
    head = script.get_current_head()  # raises when a history has two heads: one per kind, always
    assert head is not None
    return head


def history_of(script: ScriptDirectory) -> list[str]:
    """Every revision, newest first; the last is the baseline: the schema 0.1.0 made without a version."""
    return [r.revision for r in script.iterate_revisions("head", "base")]


@dataclass(frozen=True, slots=True)
class Status:
    database: Database
    found: str | None  # the revision recorded in the database
    head: str  # the newest revision this renkei knows for its kind
    state: str  # current | outdated | unversioned | blank | newer

    @property
    def advice(self) -> str:
        return {
            "current": "up to date",
            "outdated": "older than this renkei: run `renkei db upgrade`",
            "unversioned": "made by renkei 0.1.0 (no version): run `renkei db upgrade`",
            "blank": "empty: `renkei db upgrade` (or the first start) creates its tables",
            "newer": "written by a newer renkei: run that version (this one cannot downgrade it)",
        }[self.state]


def _state(conn: sa.Connection, db: Database, script: ScriptDirectory) -> Status:
    head = head_of(script)
    found = current_revision(conn)
    if found is None:
        state = "blank" if is_blank(conn, db.schema) else "unversioned"
    elif found == head:
        state = "current"
    else:
        state = "outdated" if found in history_of(script) else "newer"
    return Status(db, found, head, state)


def _writer(db: Database) -> sa.Engine:
    engine = make_engine(db.url, immediate=True)
    if engine.dialect.name == "sqlite":
        # Batch operations copy a table and drop the old one: with foreign keys enforced, dropping a table
        # others reference would fail. They are checked once, after the whole upgrade, instead.
        @sa.event.listens_for(engine, "connect")
        def _no_fk_enforcement(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA foreign_keys=OFF")

    return engine


def status(db: Database, script_location: Path | None = None) -> Status:
    script = script_directory(db.schema.kind, script_location)
    engine = make_engine(db.url, immediate=False)
    try:
        with engine.connect() as conn:
            return _state(conn, db, script)
    finally:
        engine.dispose()


def upgrade(db: Database, script_location: Path | None = None) -> tuple[Status, Status]:
    """Upgrade one database to its history's head in one transaction; returns (before, after). A database
    already at head is left untouched (no write at all)."""
    from alembic import command

    script = script_directory(db.schema.kind, script_location)
    before = status(db, script_location)
    if before.state == "current":
        return before, before
    if before.state == "newer":
        raise SchemaVersionError(f"{db.name}: {before.advice}")
    engine = _writer(db)
    try:
        with engine.begin() as conn:
            now = _state(conn, db, script)  # again, under the write lock
            if now.state == "unversioned":
                stamp(conn, history_of(script)[-1])
            if now.state != "current":
                cfg = alembic_config(db.schema.kind, script_location)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            if conn.dialect.name == "sqlite" and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                raise SchemaVersionError(f"{db.name}: the upgrade would break a foreign key; nothing was changed")
            after = _state(conn, db, script)
    finally:
        engine.dispose()
    return before, after


def upgrade_all(data_dir: Path, script_location: Path | None = None) -> list[tuple[Status, Status]]:
    """Every database of the folder, the store first; none is touched when one was written by a newer renkei."""
    found = databases(data_dir)
    newer = [s for s in (status(db, script_location) for db in found) if s.state == "newer"]
    if newer:
        raise SchemaVersionError(f"{', '.join(s.database.name for s in newer)}: {newer[0].advice}; nothing was changed")
    return [upgrade(db, script_location) for db in found]


def status_all(data_dir: Path, script_location: Path | None = None) -> list[Status]:
    return [status(db, script_location) for db in databases(data_dir)]


def require_current(data_dir: Path) -> None:
    """Refuse to start a service on a data folder with any database not at this code's revision (cheap:
    one SELECT per database, no Alembic). New databases are fine: their owner creates them at head."""
    for db in databases(data_dir):
        engine = make_engine(db.url, immediate=False)
        try:
            with engine.connect() as conn:
                found = current_revision(conn)
                blank = found is None and is_blank(conn, db.schema)
        finally:
            engine.dispose()
        if found != db.schema.revision and not blank:
            raise refusal(db.name, db.schema, found)

"""Schema migrations (pipelines/migrations): the revisions build exactly the tables the code defines, an
older database is refused until `upgrade` brings it to head with its rows, a newer one is refused too.
The store's tests run on SQLite and on a real PostgreSQL (`store_url`, integration)."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from renkei.db import make_engine
from renkei.db_version import DbSchema, SchemaVersionError, current_revision, ensure_current
from renkei.pipelines.migrations import runner
from renkei.pipelines.migrations.catalog import Database, all_schemas, file_pattern
from renkei.pipelines.schema import SCHEMA as STORE_SCHEMA
from renkei.pipelines.schema import messages
from renkei.pipelines.store import Received, Store

# The next release's revision, as the lead would write it: one column added to messages.
NEXT_REVISION = f"""
import sqlalchemy as sa
from alembic import op

revision = "store_9002"
down_revision = "{STORE_SCHEMA.revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("note")
"""


def _differences(url: str, metadata: sa.MetaData) -> list[object]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return [d for d in compare_metadata(ctx, metadata) if not _is_version_table(d)]
    finally:
        engine.dispose()


def _is_version_table(diff: object) -> bool:
    return isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == "alembic_version"


def _revision(url: str) -> str | None:
    engine = make_engine(url, immediate=False)
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


SCHEMAS = all_schemas()


def test_each_owner_declares_the_head_of_its_history() -> None:
    heads = {b: runner.head_of(runner.script_directory(b)) for b in SCHEMAS}
    assert heads == {b: s.revision for b, s in SCHEMAS.items()}
    assert sorted(SCHEMAS) == ["devices", "matrix", "store", "timeline", "webhook"]


def test_the_catalog_names_the_files_the_owners_write() -> None:
    from renkei.connectors import builtin_timeline
    from renkei.devices import registry
    from renkei.pipelines import store

    assert [file_pattern(b) for b in ("store", "timeline", "devices")] == [
        store.DB_FILE,
        builtin_timeline.DB_FILE,
        registry.DB_FILE,
    ]


@pytest.mark.parametrize("kind", ["timeline", "devices", "matrix", "webhook"])
def test_migrations_from_nothing_build_exactly_the_tables_a_connector_defines(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.sqlite"
    db = Database(path.name, f"sqlite:///{path}", SCHEMAS[kind], path)
    before, after = runner.upgrade(db)
    assert (before.state, after.state) == ("blank", "current")
    assert after.found == SCHEMAS[kind].revision == _revision(db.url)
    assert _differences(db.url, SCHEMAS[kind].metadata) == []


def test_store_migrations_from_nothing_build_exactly_the_store_tables(store_url: str) -> None:
    before, after = runner.upgrade(Database("store", store_url, STORE_SCHEMA, None))
    assert (before.state, after.found) == ("blank", STORE_SCHEMA.revision)
    assert _differences(store_url, STORE_SCHEMA.metadata) == []
    # A store opened on it is satisfied, and `upgrade` again changes nothing.
    Store(store_url).close()
    again_before, again_after = runner.upgrade(Database("store", store_url, STORE_SCHEMA, None))
    assert again_before.state == again_after.state == "current"


def test_a_new_store_is_created_at_head(store_url: str) -> None:
    store = Store(store_url)
    try:
        store.receive_many("sync", "ehr", [Received("k1", "fp", b"x")])
    finally:
        store.close()
    assert _revision(store_url) == STORE_SCHEMA.revision
    assert runner.status(Database("store", store_url, STORE_SCHEMA, None)).state == "current"


def test_a_store_made_by_010_is_refused_naming_the_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'renkei.sqlite'}"
    engine = make_engine(url, immediate=True)
    STORE_SCHEMA.metadata.create_all(engine)  # what 0.1.0 did: tables, no version
    engine.dispose()
    with pytest.raises(SchemaVersionError, match=r"no schema version .*`renkei db upgrade`"):
        Store(url)


def _next_release(tmp_path: Path) -> tuple[Path, DbSchema]:
    scripts = tmp_path / "migrations"
    shutil.copytree(runner.HERE, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "store" / "store_9002_message_note.py").write_text(NEXT_REVISION, encoding="utf-8")
    metadata = sa.MetaData()
    for table in STORE_SCHEMA.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["messages"].append_column(sa.Column("note", sa.Text, nullable=False, server_default=""))
    return scripts, DbSchema("store", "store_9002", metadata)


def test_an_older_store_is_refused_until_upgraded_and_keeps_its_rows(tmp_path: Path, store_url: str) -> None:
    scripts, next_schema = _next_release(tmp_path)
    store = Store(store_url)
    try:
        ids = store.receive_many("sync", "ehr", [Received("k1", "fp1", "日本語".encode()), Received("k2", "fp2", b"y")])
    finally:
        store.close()
    writer = make_engine(store_url, immediate=True)
    try:
        refused = rf"revision {STORE_SCHEMA.revision}; .*needs revision store_9002.*renkei db upgrade"
        with pytest.raises(SchemaVersionError, match=refused):
            ensure_current(writer, next_schema, "the store")
        db = Database("store", store_url, next_schema, None)
        before, after = runner.upgrade(db, script_location=scripts)
        assert (before.state, before.found) == ("outdated", STORE_SCHEMA.revision)
        assert (after.state, after.found) == ("current", "store_9002")
        ensure_current(writer, next_schema, "the store")  # the next release starts
        with writer.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, source_key, raw, note FROM messages ORDER BY id")).all()
        assert [(r.id, r.source_key, bytes(r.raw), r.note) for r in rows] == [
            (ids[0], "k1", "日本語".encode(), ""),
            (ids[1], "k2", b"y", ""),
        ]
        assert _differences(store_url, next_schema.metadata) == []
        assert [d[0] for d in _differences(store_url, STORE_SCHEMA.metadata)] == ["remove_column"]  # the check sees
        # This (older) code now refuses the newer database instead of writing to it.
        with pytest.raises(SchemaVersionError, match="store_9002"):
            Store(store_url)
        assert runner.status(Database("store", store_url, STORE_SCHEMA, None)).state == "newer"
        with pytest.raises(SchemaVersionError, match="newer renkei"):
            runner.upgrade(Database("store", store_url, STORE_SCHEMA, None))
    finally:
        writer.dispose()


def test_messages_table_is_unchanged_by_the_test_revision() -> None:
    """The next-release copy above must not leak into the real metadata."""
    assert "note" not in messages.c


def test_upgrading_a_folder_changes_nothing_when_one_database_is_newer(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Store.in_data_dir(data).close()
    with closing(sqlite3.connect(data / "renkei.sqlite")) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = 'store_9999'")  # as a newer renkei leaves it
    timeline_url = f"sqlite:///{data / 'timeline.sqlite'}"
    engine = make_engine(timeline_url, immediate=True)
    SCHEMAS["timeline"].metadata.create_all(engine)  # a 0.1.0 timeline beside it
    engine.dispose()
    with pytest.raises(SchemaVersionError, match=r"renkei.sqlite: written by a newer renkei.*nothing was changed"):
        runner.upgrade_all(data)
    assert _revision(timeline_url) is None

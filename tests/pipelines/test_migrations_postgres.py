"""On a real PostgreSQL server (integration): a 0.1.0 store upgraded with its data intact, and
`renkei backup` (pg_dump) / `renkei restore` (pg_restore) into a fresh database."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from renkei.connectors.builtin_timeline import SCHEMA as TIMELINE_SCHEMA
from renkei.pipelines.schema import SCHEMA as STORE_SCHEMA

pytestmark = pytest.mark.integration

RENKEI = str(Path(sys.executable).with_name("renkei"))
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "data_v010"


def renkei(*args: str, env: dict[str, str], ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([RENKEI, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    if ok and proc.returncode != 0:
        raise AssertionError(f"renkei {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def renkei_json(*args: str, env: dict[str, str]) -> Any:
    return json.loads(renkei(*args, "--json", env=env).stdout)


def _sqlite_from_fixture(name: str, path: Path) -> Path:
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript((FIXTURE / f"{name}.sql").read_text(encoding="utf-8"))
    return path


def _store_010_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """What 0.1.0 left on PostgreSQL: its tables (the baseline revision, then no version at all, as its
    create_all made them), here filled with the 0.1.0 fixture's rows, sequences advanced as its own
    inserts would have."""
    from alembic import command

    from renkei.pipelines.migrations import runner

    source = sa.create_engine(f"sqlite:///{_sqlite_from_fixture('renkei.sqlite', tmp_path / 'v010.sqlite')}")
    target = sa.create_engine(pg_url)
    try:
        cfg = runner.alembic_config("store")
        with target.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "store_0001")
            conn.execute(sa.text("DROP TABLE alembic_version"))
        v010 = sa.MetaData()
        v010.reflect(target)
        with source.connect() as src, target.begin() as dst:
            for table in v010.sorted_tables:
                rows = [
                    dict(r)
                    for r in src.execute(sa.select(sa.Table(table.name, sa.MetaData(), autoload_with=src))).mappings()
                ]
                if rows:
                    dst.execute(sa.insert(table), rows)
            for table in ("messages", "deliveries"):
                dst.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"))
    finally:
        source.dispose()
        target.dispose()


def test_a_010_store_on_postgresql_is_refused_then_upgraded_with_its_data_intact(pg_url: str, tmp_path: Path) -> None:
    _store_010_on_postgres(pg_url, tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    _sqlite_from_fixture("timeline.sqlite", data / "timeline.sqlite")
    env = {"RENKEI_STORE_URL": pg_url, "RENKEI_DATA": str(data)}

    refused = renkei("status", env=env, ok=False)
    assert refused.returncode == 2 and "`renkei db upgrade`" in refused.stderr and "Traceback" not in refused.stderr
    states = {s["database"]: s["state"] for s in renkei_json("db", "current", env=env)}
    assert states == {"store (postgresql)": "unversioned", "timeline.sqlite": "unversioned"}

    upgraded = renkei_json("db", "upgrade", env=env)
    assert [(u["database"], u["from"], u["to"]) for u in upgraded] == [
        ("store (postgresql)", None, STORE_SCHEMA.revision),
        ("timeline.sqlite", None, TIMELINE_SCHEMA.revision),
    ]
    verified = renkei_json("audit", "verify", env=env)
    assert verified["ok"] is True and verified["entries"] >= 84
    assert renkei_json("status", env=env)["messages"] == {"ssmix2-to-timeline": {"SENT": 24}}
    (stats,) = renkei_json("demo", "--once", env=env).values()  # the service runs on it
    assert stats["received"] + stats["unchanged"] == 24 and stats["quarantined"] == stats["dead"] == 0
    assert [u["changed"] for u in renkei_json("db", "upgrade", env=env)] == [False, False]


def test_backup_with_pg_dump_restores_into_a_fresh_database(postgres, pg_url: str, tmp_path: Path) -> None:
    pg_bin = {"RENKEI_PG_BIN": str(postgres.bindir)}
    first = {"RENKEI_STORE_URL": pg_url, "RENKEI_DATA": str(tmp_path / "first"), **pg_bin}
    renkei("demo", "--once", env=first)
    groups = renkei_json("timeline", "list", env=first)
    manifest = renkei_json("backup", str(tmp_path / "backup"), env=first)
    assert manifest["store"] == "postgresql"
    assert [d["file"] for d in manifest["databases"]] == ["store.pgdump", "timeline.sqlite"]

    fresh = postgres.create_database("renkei_restored")
    second = {"RENKEI_STORE_URL": fresh, "RENKEI_DATA": str(tmp_path / "second"), **pg_bin}
    renkei("restore", str(tmp_path / "backup"), env=second)
    verified = renkei_json("audit", "verify", env=second)
    assert verified["ok"] is True
    assert verified["entries"] == renkei_json("audit", "verify", env=first)["entries"]
    assert renkei_json("status", env=second)["messages"] == renkei_json("status", env=first)["messages"]
    assert renkei_json("timeline", "list", env=second) == groups
    assert {s["state"] for s in renkei_json("db", "current", env=second)} == {"current"}
    # A second restore into the now-filled database is refused.
    third = {**second, "RENKEI_DATA": str(tmp_path / "third")}
    again = renkei("restore", str(tmp_path / "backup"), env=third, ok=False)
    assert again.returncode == 1 and "already holds store" in again.stderr

"""`renkei backup DEST` and `renkei restore SRC`: a consistent copy of a whole data folder.

Each SQLite database is copied with SQLite's online backup API (one step, so one read transaction: a
consistent snapshot while the service keeps writing, which a file copy of a WAL database is not); a
PostgreSQL store with `pg_dump --format=custom` (one snapshot of the whole database). The store is copied
first and the connectors' databases after it: a connector ledger or timeline newer than the store only
means a delivery the store still has queued is found already done by its idempotency key, never a post
lost. Other files (the timeline's attachments, `last-config`, a FHIR source's state) follow; lock files
do not. `renkei-backup.json` in DEST lists what was copied and at which schema revision.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from renkei import __version__
from renkei.db import make_engine
from renkei.db_version import current_revision, is_blank
from renkei.errors import ConfigError, RefusedError
from renkei.pipelines.migrations.catalog import Database, databases

MANIFEST = "renkei-backup.json"
PG_DUMP_FILE = "store.pgdump"
PG_BIN_ENV = "RENKEI_PG_BIN"  # folder of pg_dump/pg_restore when they are not on PATH
_NOT_COPIED_SUFFIXES = ("-wal", "-shm", "-journal", ".lock")


def _is_database_file(path: Path) -> bool:
    return path.suffix == ".sqlite" or path.name.endswith(_NOT_COPIED_SUFFIXES)


def sqlite_copy(src: Path, dst: Path) -> None:
    """Copy one SQLite database with the online backup API, then check the copy's integrity."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(src, timeout=60)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)  # pages=-1: one step, one snapshot
        if target.execute("PRAGMA quick_check").fetchone() != ("ok",):
            raise RefusedError(f"the copy of {src.name} failed SQLite's integrity check")
    finally:
        target.close()
        source.close()


def _pg_tool(name: str) -> str:
    folder = os.environ.get(PG_BIN_ENV)
    found = str(Path(folder) / name) if folder else shutil.which(name)
    if not found or not Path(found).exists():
        raise ConfigError(f"{name} is needed for a PostgreSQL store: install the PostgreSQL client or set {PG_BIN_ENV}")
    return found


def _pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq arguments for a SQLAlchemy URL; the password goes in the environment, never on the command line."""
    u = sa.engine.make_url(url)
    args = ["--dbname", u.database or ""]
    if u.host:
        args += ["--host", u.host]
    if u.port:
        args += ["--port", str(u.port)]
    if u.username:
        args += ["--username", u.username]
    env = {**os.environ, **({"PGPASSWORD": u.password} if u.password else {})}
    return args, env


def _run_pg(cmd: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        # pg tools quote no row values in their errors; the last line says what failed.
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise RefusedError(f"{what} failed (exit {proc.returncode}): {last}")


def _revision(db: Database) -> str | None:
    engine = make_engine(db.url, immediate=False)
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


def backup(data_dir: Path, dest: Path) -> dict[str, Any]:
    """Copy every database and file of `data_dir` into the new folder `dest`; returns the manifest."""
    if dest.exists() and any(dest.iterdir()):
        raise RefusedError(f"{dest} is not empty: back up into a new folder")
    found = databases(data_dir)
    if not any(db.is_store for db in found):
        raise RefusedError(f"no renkei store in {data_dir}: nothing to back up")
    dest.mkdir(parents=True, exist_ok=True)
    entries = []
    for db in found:  # the store first (see the module docstring)
        if db.path is not None:
            sqlite_copy(db.path, dest / db.path.name)
            entries.append({"file": db.path.name, "kind": db.schema.kind, "revision": _revision(db)})
        else:
            args, env = _pg_args(db.url)
            out = dest / PG_DUMP_FILE
            _run_pg([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(out), *args], env, "pg_dump")
            entries.append({"file": PG_DUMP_FILE, "kind": db.schema.kind, "revision": _revision(db)})
    for item in sorted(data_dir.iterdir()):
        if _is_database_file(item) or item.name == MANIFEST:
            continue
        if item.is_dir():
            skip = shutil.ignore_patterns(*(f"*{suffix}" for suffix in _NOT_COPIED_SUFFIXES))
            shutil.copytree(item, dest / item.name, ignore=skip)
        else:
            shutil.copy2(item, dest / item.name)
    manifest = {
        "renkei": __version__,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "store": "postgresql" if any(db.path is None for db in found) else "sqlite",
        "databases": entries,
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def restore(src: Path, data_dir: Path) -> dict[str, Any]:
    """Restore a backup into `data_dir`, which must hold no renkei database yet; returns the manifest."""
    try:
        manifest = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RefusedError(f"{src} is not a renkei backup (no readable {MANIFEST})") from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    existing = databases(data_dir)
    pg_target = next((db for db in existing if db.path is None), None)
    if manifest["store"] == "postgresql" and pg_target is None:
        raise RefusedError("this backup holds a PostgreSQL store: set RENKEI_STORE_URL to an empty database")
    if manifest["store"] == "sqlite" and pg_target is not None:
        raise RefusedError("this backup holds a SQLite store: unset RENKEI_STORE_URL to restore it")
    occupied = [db.name for db in existing if db.path is not None or not _is_blank_pg(db)]
    if occupied:
        raise RefusedError(f"{data_dir} already holds {', '.join(occupied)}: restore into a new folder (or database)")
    for entry in manifest["databases"]:
        if entry["file"] == PG_DUMP_FILE:
            assert pg_target is not None
            args, env = _pg_args(pg_target.url)
            cmd = [_pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", *args]
            _run_pg([*cmd, str(src / PG_DUMP_FILE)], env, "pg_restore")
        else:
            sqlite_copy(src / entry["file"], data_dir / entry["file"])
    for item in sorted(src.iterdir()):
        if _is_database_file(item) or item.name in (MANIFEST, PG_DUMP_FILE):
            continue
        if item.is_dir():
            shutil.copytree(item, data_dir / item.name, dirs_exist_ok=True)
        else:
            shutil.copy2(item, data_dir / item.name)
    return manifest


def _is_blank_pg(db: Database) -> bool:
    engine = make_engine(db.url, immediate=False)
    try:
        with engine.connect() as conn:
            return is_blank(conn, db.schema)
    finally:
        engine.dispose()

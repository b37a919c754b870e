"""Every kind of renkei database, and which of them a data folder holds.

The engine sits above the connectors, so it may name their schemas (connectors never import this).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from renkei.db_version import DbSchema
from renkei.pipelines.schema import SCHEMA as STORE_SCHEMA
from renkei.pipelines.store import DB_FILE, STORE_URL_ENV

# kind -> (its SQLite file(s) in a data folder, as the owner names them; "module:attribute" of its DbSchema).
# A connector's module is imported only when its database is there: `renkei run` stays quick to start.
_KINDS: dict[str, tuple[str, str]] = {
    "store": (DB_FILE, "renkei.pipelines.schema:SCHEMA"),
    "timeline": ("timeline.sqlite", "renkei.connectors.builtin_timeline:SCHEMA"),
    "devices": ("devices.sqlite", "renkei.devices.registry:SCHEMA"),
    "matrix": ("matrix-*.sqlite", "renkei.connectors.matrix._store:SCHEMA"),
    "webhook": ("webhook-*.sqlite", "renkei.connectors.webhook_ledger:SCHEMA"),
}
KINDS = tuple(_KINDS)


def file_pattern(kind: str) -> str:
    return _KINDS[kind][0]


def schema_of(kind: str) -> DbSchema:
    module, attr = _KINDS[kind][1].split(":")
    found: DbSchema = getattr(importlib.import_module(module), attr)
    return found


def all_schemas() -> dict[str, DbSchema]:
    return {kind: schema_of(kind) for kind in KINDS}


@dataclass(frozen=True, slots=True)
class Database:
    name: str  # shown to the operator: the file name, or "store (postgresql)"; never a URL with a password
    url: str
    schema: DbSchema
    path: Path | None  # the SQLite file; None for the PostgreSQL store

    @property
    def is_store(self) -> bool:
        return self.schema is STORE_SCHEMA


def store_url(data_dir: Path) -> str:
    return os.environ.get(STORE_URL_ENV) or f"sqlite:///{data_dir / DB_FILE}"


def databases(data_dir: Path) -> list[Database]:
    """The store first (see pipelines/backup.py for why), then every connector database present."""
    found: list[Database] = []
    if os.environ.get(STORE_URL_ENV):
        url = sa.engine.make_url(store_url(data_dir))
        backend = url.get_backend_name()
        path = Path(url.database) if backend == "sqlite" and url.database else None
        found.append(Database(f"store ({backend})", str(store_url(data_dir)), STORE_SCHEMA, path))
    elif (data_dir / DB_FILE).exists():
        found.append(Database(DB_FILE, store_url(data_dir), STORE_SCHEMA, data_dir / DB_FILE))
    for kind in KINDS[1:]:
        for path in sorted(data_dir.glob(file_pattern(kind))):
            found.append(Database(path.name, f"sqlite:///{path}", schema_of(kind), path))
    return found

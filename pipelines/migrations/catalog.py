"""Every kind of renkei database, and which of them a data folder holds.

The engine sits above the connectors, so it may name their schemas (connectors never import this).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from renkei.connectors import builtin_timeline, webhook
from renkei.connectors.matrix import _store as matrix_store
from renkei.db_version import DbSchema
from renkei.devices import registry as device_registry
from renkei.pipelines.schema import SCHEMA as STORE_SCHEMA
from renkei.pipelines.store import DB_FILE, STORE_URL_ENV

SCHEMAS: dict[str, DbSchema] = {
    s.branch: s
    for s in (STORE_SCHEMA, builtin_timeline.SCHEMA, device_registry.SCHEMA, matrix_store.SCHEMA, webhook.SCHEMA)
}

# SQLite files a data folder may hold besides the store, by name pattern (the connectors' own naming).
_FILES: tuple[tuple[str, str], ...] = (
    (builtin_timeline.DB_FILE, "timeline"),
    (device_registry.DB_FILE, "devices"),
    ("matrix-*.sqlite", "matrix"),
    ("webhook-*.sqlite", "webhook"),
)


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
    for pattern, branch in _FILES:
        for path in sorted(data_dir.glob(pattern)):
            found.append(Database(path.name, f"sqlite:///{path}", SCHEMAS[branch], path))
    return found

"""The webhook destination's ledger (webhook-<name>.sqlite): every key delivered, with its receipt.

Apart from connectors/webhook.py so that loading a config (which validates the webhook's settings) does not
import SQLAlchemy. Queries are plain sqlite3; the table is versioned with Alembic (docs/schema.md).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa

from renkei.db_version import DbSchema, open_sqlite_ledger

_md = sa.MetaData()
sa.Table(
    "deliveries",
    _md,
    sa.Column("idem_key", sa.Text, primary_key=True),
    sa.Column("receipt", sa.Text, nullable=False),
)
# The Alembic revision the ledger is at (pipelines/migrations/versions/webhook/): see docs/schema.md.
SCHEMA = DbSchema("webhook", "webhook_0001", _md)


def open_ledger(path: Path) -> sqlite3.Connection:
    return open_sqlite_ledger(path, SCHEMA)

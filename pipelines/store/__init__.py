"""The durable message store: messages, per-destination deliveries, idempotency ledger, source ledger,
patient basics and the audit log, on SQLite (WAL) or PostgreSQL through SQLAlchemy Core.

Durability rule: `receive_many` commits (fsync, `synchronous=FULL`) before it returns, and only then may
a source acknowledge (MLLP ACK, device beep, HTTP 2xx) or advance its ledger. Every later step is one
transaction per batch, so a crash leaves each message in a state the engine resumes from.
"""

from __future__ import annotations

from renkei.pipelines.store.connection import DB_FILE, STORE_URL_ENV
from renkei.pipelines.store.items import DeliveryOutcome, DueDelivery, NewDelivery, Processed, Received
from renkei.pipelines.store.operators import Decisions
from renkei.pipelines.store.queries import Queries
from renkei.pipelines.store.queue import DeliveryQueue
from renkei.pipelines.store.receiving import Receiving
from renkei.pipelines.store.results import Results

__all__ = [
    "DB_FILE",
    "STORE_URL_ENV",
    "DeliveryOutcome",
    "DueDelivery",
    "NewDelivery",
    "Processed",
    "Received",
    "Store",
]


class Store(Receiving, Results, DeliveryQueue, Queries, Decisions):
    """The store, one module per concern (connection, receiving, results, queue, queries, decisions)."""

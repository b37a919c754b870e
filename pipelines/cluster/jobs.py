"""Deferring renkei's jobs inside the store's own write transaction (the store's JobHook).

procrastinate's jobs live in the store's database, so `batch_defer_jobs(..., connection=...)` on the
psycopg connection under the SQLAlchemy transaction commits the jobs with the state change they follow:
a message stored RECEIVED has its processing job, a delivery QUEUED has its delivery job, or neither
exists. Job arguments and locks carry no patient data (they appear in procrastinate's logs): a delivery
job names a message and a destination, its lock a hash of (destination, patient).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from procrastinate import jobs, manager
from procrastinate.sync_psycopg_connector import SyncPsycopgConnector

PROCESS_TASK = "renkei.process"
DELIVER_TASK = "renkei.deliver"
SCAN_TASK = "renkei.scan"
PROCESS_QUEUE = "process"
DELIVER_QUEUE = "deliver"
SOURCES_QUEUE = "sources"  # scans: run by `renkei run`, where the source folders are mounted
MAINTENANCE_QUEUE = "maintenance"
WORKER_QUEUES = (PROCESS_QUEUE, DELIVER_QUEUE, MAINTENANCE_QUEUE)

PROCESS_BATCH = 50  # messages per processing job: one read and one write transaction each
DELIVERY_LOCK_PREFIX = "deliver:"

OrderRef = tuple[str, str, int]  # (destination, patient id or "message:<id>", a message id of that order key)


def delivery_lock(destination: str, order_part: str) -> str:
    """The procrastinate lock of one (destination, patient): a hash, so no patient id reaches a log."""
    digest = hashlib.sha256(f"{destination}\x1f{order_part}".encode()).hexdigest()[:32]
    return f"{DELIVERY_LOCK_PREFIX}{digest}"


def process_job(pipeline: str, message_ids: Sequence[int]) -> jobs.Job:
    return jobs.Job(
        queue=PROCESS_QUEUE, lock=None, queueing_lock=None, task_name=PROCESS_TASK,
        task_kwargs={"pipeline": pipeline, "message_ids": list(message_ids)},
    )  # fmt: skip


def deliver_job(ref: OrderRef, at: float | None = None, held: int = 0) -> jobs.Job:
    destination, order_part, message_id = ref
    return jobs.Job(
        queue=DELIVER_QUEUE, lock=delivery_lock(destination, order_part), queueing_lock=None,
        task_name=DELIVER_TASK, task_kwargs={"destination": destination, "message_id": message_id, "held": held},
        scheduled_at=dt.datetime.fromtimestamp(at, dt.UTC) if at else None,
    )  # fmt: skip


class JobQueue:
    """The store's JobHook on PostgreSQL (set as `store.jobs`)."""

    def __init__(self) -> None:
        # Never opened: only `*_with_connection` calls are made, on the caller's connection.
        self._manager = manager.JobManager(SyncPsycopgConnector())

    def defer(self, conn: sa.Connection, batch: Iterable[jobs.Job]) -> None:
        batch = list(batch)
        if batch:
            self._manager.batch_defer_jobs(batch, connection=conn.connection.driver_connection)

    def received(self, conn: sa.Connection, pipeline: str, message_ids: Sequence[int]) -> None:
        ids = sorted(message_ids)
        self.defer(conn, (process_job(pipeline, ids[i : i + PROCESS_BATCH]) for i in range(0, len(ids), PROCESS_BATCH)))

    def queued(self, conn: sa.Connection, refs: Sequence[OrderRef]) -> None:
        self.defer(conn, (deliver_job(ref) for ref in _one_per_order_key(refs)))

    def retry_at(self, conn: sa.Connection, due: Sequence[tuple[OrderRef, float]]) -> None:
        first: dict[tuple[str, str], tuple[OrderRef, float]] = {}
        for ref, at in due:
            first.setdefault(ref[:2], (ref, at))
        self.defer(conn, (deliver_job(ref, at) for ref, at in first.values()))


def _one_per_order_key(refs: Sequence[OrderRef]) -> list[OrderRef]:
    """One job per (destination, patient): it delivers every due delivery of theirs, in order."""
    first: dict[tuple[str, str], OrderRef] = {}
    for ref in refs:
        first.setdefault(ref[:2], ref)
    return list(first.values())

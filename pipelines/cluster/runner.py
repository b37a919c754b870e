"""The two kinds of cluster process: `renkei worker` (jobs) and `renkei run` on PostgreSQL (sources)."""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import sqlalchemy as sa

from renkei.config.loader import load_config
from renkei.connectors.base import PushSource
from renkei.errors import ConfigError
from renkei.pipelines import scheduler
from renkei.pipelines.cluster.app import Cluster, build_app
from renkei.pipelines.cluster.jobs import SOURCES_QUEUE, WORKER_QUEUES
from renkei.pipelines.cluster.schema import ensure_job_tables
from renkei.pipelines.engine import Engine
from renkei.pipelines.store import STORE_URL_ENV, Store

log = logging.getLogger("renkei.cluster")

HEARTBEAT_SECONDS = 5.0
STALLED_AFTER_SECONDS = 30.0  # a worker silent this long is gone: its jobs run again (app.retry_stalled)
POLL_SECONDS = 1.0  # besides LISTEN/NOTIFY, which wakes workers at once


def is_cluster_store(store: Store) -> bool:
    return sa.make_url(store.url).get_backend_name() == "postgresql"


def _worker_options(worker_id: str) -> dict[str, object]:
    return {
        "name": worker_id,
        "delete_jobs": "successful",  # the store keeps the history; the job table stays small
        "update_heartbeat_interval": HEARTBEAT_SECONDS,
        "stalled_worker_timeout": STALLED_AFTER_SECONDS,
        "fetch_job_polling_interval": POLL_SECONDS,
    }


def _quiet_procrastinate() -> None:
    # One line per job start and end would drown the service's own lines; failures are still WARNING+.
    logging.getLogger("procrastinate").setLevel(logging.WARNING)


def run_worker(config_path: Path, data_dir: Path, concurrency: int, worker_id: str) -> None:
    """Run processing, delivery and maintenance jobs until SIGINT/SIGTERM (then finish the running ones)."""
    store = Store.in_data_dir(data_dir)
    try:
        if not is_cluster_store(store):
            raise ConfigError(
                f"renkei worker runs jobs from a PostgreSQL store: set {STORE_URL_ENV} (the embedded SQLite "
                "default processes and delivers inside `renkei run`)"
            )
        ensure_job_tables(store)
        cluster = Cluster(load_config(config_path), store, data_dir)
        _quiet_procrastinate()
        log.info("worker %s: %d at once on queues %s", worker_id, concurrency, ", ".join(WORKER_QUEUES))
        try:
            build_app(cluster, pool_size=concurrency + 2).run_worker(
                queues=list(WORKER_QUEUES), concurrency=concurrency, **_worker_options(worker_id)
            )
        finally:
            cluster.close()
    finally:
        store.close()


def run_sources(engine: Engine) -> None:
    """`renkei run` on PostgreSQL: listeners store what they are sent (processing jobs commit with it),
    and this process runs the scans of scheduled pipelines, which every process of the cluster defers
    as procrastinate periodic jobs, once per period. Workers do the rest."""
    ensure_job_tables(engine.store)
    cluster = Cluster(engine.loaded, engine.store, engine.data_dir)
    _quiet_procrastinate()
    stopping = threading.Event()
    sources: list[PushSource] = []
    try:
        for p in engine.config.pipelines:
            if p.trigger.event:
                sources.append(scheduler.start_push_source(engine, p.name, stopping, worker_process=False))
        build_app(cluster).run_worker(
            queues=[SOURCES_QUEUE], concurrency=1, **_worker_options(f"run@{socket.gethostname()}")
        )
    finally:
        stopping.set()
        for source in sources:
            source.stop()
        cluster.close()

"""The procrastinate app of one renkei process: its tasks, the periodic ones, and the engines they use.

Synchronous tasks run in procrastinate's worker threads (`--concurrency N` at once), so each thread
gets its own Engine (connectors are not shared between threads); they share one Store (its SQLAlchemy
pools are thread-safe), whose JobHook defers follow-up jobs inside its write transactions.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import sqlalchemy as sa
from procrastinate import App, PsycopgConnector, RetryStrategy

from renkei.config.loader import LoadedConfig, load_config
from renkei.pipelines import scheduler
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.cluster import deliver, jobs
from renkei.pipelines.engine import Engine
from renkei.pipelines.intake import BATCH, batches
from renkei.pipelines.runstats import RunStats
from renkei.pipelines.store import Store

log = logging.getLogger("renkei.cluster")

# A job that raised (the database went away, a connector bug): run again after 4, 8, 16 … s, 12 times
# (about 2 h in all). A delivery's own failures are not job failures: they are ERROR outcomes, retried
# by the pipeline's policy through a new job at their next attempt time.
JOB_RETRY = RetryStrategy(max_attempts=12, exponential_wait=2)
STALLED_CHECK_CRON = "* * * * * */10"  # every 10 s: jobs of workers silent for 30 s are run again
SWEEP_CRON = "* * * * * */30"
STALE_RECEIVED_SECONDS = 120.0


def conninfo(url: str) -> str:
    """libpq's URL of a SQLAlchemy `postgresql+psycopg://` URL (password kept: it is only passed on)."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Cluster:
    """One process's share of the cluster: its config, data folder, store and per-thread engines."""

    def __init__(self, loaded: LoadedConfig, store: Store, data_dir: Path) -> None:
        self.loaded = loaded
        self.store = store
        self.data_dir = data_dir
        self.queue = jobs.JobQueue()
        store.jobs = self.queue
        self._local = threading.local()
        self._engines: list[Engine] = []
        self._lock = threading.Lock()

    @classmethod
    def open(cls, config_path: Path, store: Store, data_dir: Path) -> Cluster:
        return cls(load_config(config_path), store, data_dir)

    def engine(self) -> Engine:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            engine = self._local.engine = Engine(self.loaded, self.store, self.data_dir)
            with self._lock:
                self._engines.append(engine)
        return engine

    def close(self) -> None:
        with self._lock:
            for engine in self._engines:
                engine.close()
            self._engines.clear()


def build_app(cluster: Cluster, pool_size: int = 4) -> App:
    app = App(connector=PsycopgConnector(conninfo=conninfo(cluster.store.url), min_size=1, max_size=pool_size))

    @app.task(name=jobs.PROCESS_TASK, queue=jobs.PROCESS_QUEUE, retry=JOB_RETRY)
    def process(pipeline: str, message_ids: list[int]) -> None:
        deliver.process(cluster.engine(), pipeline, message_ids)

    @app.task(name=jobs.DELIVER_TASK, queue=jobs.DELIVER_QUEUE, retry=JOB_RETRY)
    def deliver_one(destination: str, message_id: int, held: int = 0) -> None:
        deliver.deliver(cluster.engine(), cluster.queue, destination, message_id, held)

    @app.task(name=jobs.SCAN_TASK, queue=jobs.SOURCES_QUEUE)
    def scan(timestamp: int, pipeline: str) -> None:
        scan_pipeline(cluster.engine(), pipeline, timestamp)

    for p in cluster.loaded.config.pipelines:
        if not p.trigger.event:
            app.periodic(
                cron=scheduler.cluster_cron(p.trigger), periodic_id=p.name, task_kwargs={"pipeline": p.name},
                lock=f"scan:{p.name}", queueing_lock=f"scan:{p.name}",  # a period is skipped, never stacked
            )(scan)  # fmt: skip

    @app.periodic(cron=STALLED_CHECK_CRON)
    @app.task(name="renkei.retry_stalled", queue=jobs.MAINTENANCE_QUEUE, queueing_lock="renkei.retry_stalled")
    async def retry_stalled(timestamp: int) -> None:
        for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=30):
            log.warning("job %s of a worker gone silent: running it again", job.id)
            await app.job_manager.retry_job(job)

    @app.periodic(cron=SWEEP_CRON)
    @app.task(name="renkei.sweep", queue=jobs.MAINTENANCE_QUEUE, queueing_lock="renkei.sweep")
    def sweep(timestamp: int) -> None:
        deliver.sweep(cluster.engine(), cluster.queue, STALE_RECEIVED_SECONDS)

    @app.periodic(cron="0 * * * *")
    @app.task(name="renkei.audit_anchor", queue=jobs.MAINTENANCE_QUEUE, queueing_lock="renkei.audit_anchor")
    def audit_anchor(timestamp: int) -> None:
        scheduler.anchor_audit(cluster.engine())

    @app.periodic(cron=f"30 {scheduler.PRUNE_HOUR} * * *")  # UTC here (docs/scaling.md)
    @app.task(name="renkei.prune", queue=jobs.MAINTENANCE_QUEUE, queueing_lock="renkei.prune")
    def prune(timestamp: int) -> None:
        scheduler.prune_retention(cluster.engine())

    return app


def scan_pipeline(engine: Engine, name: str, period: int) -> RunStats:
    """One period of a scheduled pipeline: store what is new (each batch's processing jobs commit with
    it) and nothing else; audited with its period, so each period's one run can be seen."""
    p = engine.pipeline(name)
    stats = RunStats()
    source = engine.connector(p.source)
    for batch in batches(engine.intake.new_items(p, source, stats), BATCH):
        received = [engine.intake.read(source, item) for item in batch]
        stats.received += len(engine.store.receive_many(p.name, p.source, received))
    engine.store.audit([AuditEntry("pipeline.scheduled_run", "", f"pipeline:{name}", f"period {period}")])
    log.info("pipeline %s: %d stored, %d unchanged (period %d)", name, stats.received, stats.unchanged, period)
    return stats

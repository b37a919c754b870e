"""Run pipelines on their triggers with APScheduler 3.x (the stable line), in this one process.

(On a PostgreSQL store, `renkei run` uses pipelines/cluster instead: the same triggers become procrastinate
periodic tasks, deferred once per period across the cluster; `cluster_cron` translates them.)

Each pipeline is one job (interval or cron) that never overlaps itself and coalesces missed runs; a
second job delivers due retries every few seconds. The job store is APScheduler's in-memory one: it is
rebuilt from the config at start, and must never be shared between processes (APScheduler 3 does not
coordinate them), so durable state lives only in renkei's own store.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from types import FrameType

from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError

from renkei.config.schema import TriggerConfig
from renkei.connectors.base import PushSource
from renkei.errors import ConfigError, RenkeiError
from renkei.pipelines import worker
from renkei.pipelines.engine import Engine

log = logging.getLogger("renkei.scheduler")

RETRY_POLL_SECONDS = 2.0
PRUNE_HOUR = 3


def run_forever(engine: Engine) -> None:
    scheduler = BlockingScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60})
    stopping = threading.Event()
    push_sources: list[PushSource] = []
    for p in engine.config.pipelines:
        t = p.trigger
        if t.event:
            push_sources.append(_start_push_source(engine, p.name, stopping))
            continue
        trigger = (
            IntervalTrigger(seconds=t.interval_seconds) if t.interval_seconds else CronTrigger.from_crontab(t.cron)
        )
        scheduler.add_job(_run_one, trigger, args=(engine, p.name), id=f"pipeline:{p.name}", name=p.name)
        scheduler.add_job(_run_one, args=(engine, p.name), id=f"start:{p.name}")  # once at start
    scheduler.add_job(engine.deliver_due, IntervalTrigger(seconds=RETRY_POLL_SECONDS), id="deliveries")
    scheduler.add_job(_anchor, IntervalTrigger(hours=1), args=(engine,), id="audit-anchor")
    scheduler.add_job(_anchor, args=(engine,), id="audit-anchor-start")
    # Retention once a day, at night in the site's time zone (its VACUUM holds the write lock a while).
    prune_at = CronTrigger(hour=PRUNE_HOUR, minute=30, timezone=engine.config.timezone)
    scheduler.add_job(_prune, prune_at, args=(engine,), id="retention-prune")
    if engine.config.notifications:  # the day's digests (pipelines/digests.py), each person once a day
        hour, minute = engine.config.notifications.send_at.split(":")
        digest_at = CronTrigger(hour=int(hour), minute=int(minute), timezone=engine.config.timezone)
        scheduler.add_job(_digests, digest_at, args=(engine,), id="digests")

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the running jobs finish", signum)
        stopping.set()
        for source in push_sources:
            source.stop()  # stop accepting first: nothing is acknowledged that is not stored
        with contextlib.suppress(SchedulerNotRunningError):  # a second Ctrl-C, or one before the start
            scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    scheduler.start()


def start_push_source(engine: Engine, name: str, stopping: threading.Event, worker_process: bool = True) -> PushSource:
    """Start an event-driven pipeline's source; `worker_process=False` (PostgreSQL cluster): what it
    stores is processed by `renkei worker` jobs, deferred as it is stored, not by a local process."""
    if worker_process:
        return _start_push_source(engine, name, stopping)
    source = engine.connector(engine.pipeline(name).source)
    if not isinstance(source, PushSource):
        raise ConfigError(f"pipeline {name!r} has trigger event, but its source cannot push messages")
    source.start(lambda items: engine.ingest(name, items))
    return source


def _start_push_source(engine: Engine, name: str, stopping: threading.Event) -> PushSource:
    """Event-driven: the source stores what it is sent (and only then acknowledges); a worker process
    parses and delivers, so acknowledging never waits for processing."""
    source = engine.connector(engine.pipeline(name).source)
    if not isinstance(source, PushSource):
        raise ConfigError(f"pipeline {name!r} has trigger event, but its source cannot push messages")
    process, stop = worker.start(engine.loaded.path, engine.data_dir, name)
    source.start(lambda items: engine.ingest(name, items))

    def watch() -> None:
        stopping.wait()
        stop.set()
        process.join(timeout=30)

    threading.Thread(target=watch, name=f"worker-watch:{name}", daemon=True).start()
    return source


def cluster_cron(trigger: TriggerConfig) -> str:
    """A pipeline's trigger as a procrastinate cron (5 fields, or 6 with seconds; evaluated in UTC).

    procrastinate fires on cron instants shared by every host, which is what lets the cluster defer a
    period once; so an interval must divide the minute, the hour or the day evenly to be one."""
    if trigger.cron:
        return trigger.cron
    seconds = trigger.interval_seconds
    whole = int(seconds) if seconds is not None and float(seconds).is_integer() else 0
    if 0 < whole < 60 and 60 % whole == 0:
        return f"* * * * * */{whole}"
    if whole % 60 == 0 and 0 < whole // 60 < 60 and 60 % (whole // 60) == 0:
        return f"*/{whole // 60} * * * *"
    if whole % 3600 == 0 and 0 < whole // 3600 <= 24 and 24 % (whole // 3600) == 0:
        return f"0 */{whole // 3600} * * *"
    raise ConfigError(
        f"interval_seconds {seconds} cannot be a cluster-wide period on PostgreSQL: use a divisor of 60 seconds, "
        "60 minutes or 24 hours, or a cron trigger"
    )


def anchor_audit(engine: Engine) -> None:
    _anchor(engine)


def prune_retention(engine: Engine) -> None:
    _prune(engine)


def _anchor(engine: Engine) -> None:
    """Today's audit anchor, outside the data folder (see audit_anchors.py)."""
    from renkei.pipelines.audit_anchors import anchor_if_due

    try:
        with engine.store.read() as conn:
            anchor_if_due(conn, engine.store.url)
    except OSError as exc:
        log.error("audit anchor not written: %s (%s)", exc.strerror, exc.filename)


def _prune(engine: Engine) -> None:
    """Drop the content of finished messages past their pipeline's retention (pipelines/retention.py)."""
    from renkei.pipelines.retention import prune

    try:
        report = prune(engine.store, {p.name: p.retention for p in engine.config.pipelines})
    except (RenkeiError, OSError, SQLAlchemyError) as exc:  # tomorrow's run tries again
        log.error("retention: prune failed: %s", type(exc).__name__)
        return
    log.info("retention: pruned %s (%.1fs)", report.summary(), report.seconds)


def _digests(engine: Engine) -> None:
    from renkei.pipelines.digests import send_digests

    try:
        report, _ = send_digests(engine, actor="renkei")
    except (RenkeiError, OSError, SQLAlchemyError) as exc:  # tomorrow's run tries again
        log.error("digests: not sent: %s", type(exc).__name__)
        return
    log.info("digests: %d sent, %d failed", len(report.sent), len(report.failed))
    for user, channel, reason in report.failed:  # user names are staff logins, never patients
        log.warning("digests: %s (%s) failed: %s", user, channel, reason)


def _run_one(engine: Engine, name: str) -> None:
    try:
        stats = engine.run_pipeline(engine.pipeline(name))
    except (RenkeiError, OSError) as exc:
        # One line per run (e.g. the SS-MIX2 folder is not mounted): the next run tries again.
        reason = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.strerror else str(exc)
        log.error("pipeline %s: run failed: %s: %s", name, type(exc).__name__, reason)
        return
    log.info(
        "pipeline %s: %d stored, %d queued, %d quarantined, %d filtered, %d sent, %d failed, %d unchanged (%.2fs)",
        name, stats.received, stats.queued, stats.quarantined, stats.filtered, stats.sent, stats.failed,
        stats.unchanged, stats.seconds,
    )  # fmt: skip

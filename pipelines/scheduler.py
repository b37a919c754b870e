"""Run pipelines on their triggers with APScheduler 3.x (the stable line), in this one process.

Each pipeline is one job (interval or cron) that never overlaps itself and coalesces missed runs; a
second job delivers due retries every few seconds. The job store is APScheduler's in-memory one: it is
rebuilt from the config at start, and must never be shared between processes (APScheduler 3 does not
coordinate them), so durable state lives only in renkei's own store.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from renkei.pipelines.engine import Engine

log = logging.getLogger("renkei.scheduler")

RETRY_POLL_SECONDS = 2.0


def run_forever(engine: Engine) -> None:
    scheduler = BlockingScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60})
    for p in engine.config.pipelines:
        t = p.trigger
        if t.event:
            continue  # event-driven sources push messages themselves (e.g. an MLLP listener)
        trigger = (
            IntervalTrigger(seconds=t.interval_seconds) if t.interval_seconds else CronTrigger.from_crontab(t.cron)
        )
        scheduler.add_job(_run_one, trigger, args=(engine, p.name), id=f"pipeline:{p.name}", name=p.name)
        scheduler.add_job(_run_one, args=(engine, p.name), id=f"start:{p.name}")  # once at start
    scheduler.add_job(engine.deliver_due, IntervalTrigger(seconds=RETRY_POLL_SECONDS), id="deliveries")

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the running jobs finish", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    scheduler.start()


def _run_one(engine: Engine, name: str) -> None:
    stats = engine.run_pipeline(engine.pipeline(name))
    log.info(
        "pipeline %s: %d stored, %d queued, %d quarantined, %d filtered, %d sent, %d failed, %d unchanged (%.2fs)",
        name, stats.received, stats.queued, stats.quarantined, stats.filtered, stats.sent, stats.failed,
        stats.unchanged, stats.seconds,
    )  # fmt: skip

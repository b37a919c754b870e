"""The processing worker of an event-driven pipeline, in its own process.

A push source (an MLLP listener, the bedside reader) must acknowledge fast: its process only stores
and answers. Parsing, rendering and delivering run here, in a second process on the same store (SQLite
in WAL mode takes one writer at a time across processes), so they use the other core instead of
competing for the listener's interpreter, and they work in small batches so each write transaction
holds the lock only briefly. It runs at a lower CPU priority (NICENESS) than the listener, and writers
queue for the store on a file lock (store/writer_turn.py), so an ACK waits for neither. The worker polls
for RECEIVED messages (an indexed query) when idle.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

log = logging.getLogger("renkei.worker")

# Small batches: each is a few short write transactions, so a listener waiting to store (and ACK) behind
# one waits briefly (store/writer_turn.py); batches of 32 held the listener up to 14 ms.
EVENT_BATCH = 8
IDLE_POLL_SECONDS = 0.05
# The listener must answer within milliseconds while this process parses and renders: on a machine with
# few cores the OS scheduler then runs the listener first, and this worker takes the time left over.
NICENESS = 10


def run(config_path: str, data_dir: str, pipeline: str, stop: EventType, parent_pid: int) -> None:
    from renkei.config.loader import load_config
    from renkei.pipelines.engine import Engine
    from renkei.pipelines.outages import describe
    from renkei.pipelines.store import Store

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.nice(NICENESS)
    data = Path(data_dir)
    engine = Engine(load_config(Path(config_path)), Store.in_data_dir(data), data)
    failing: tuple[str, int] | None = None  # (what failed, rounds since) while a failure repeats
    try:
        while not stop.is_set():
            if os.getppid() != parent_pid:  # the service died (even by SIGKILL): do not live on orphaned
                log.warning("pipeline %s: the renkei service is gone; worker exits", pipeline)
                return
            try:
                stats = engine.process_pending(pipeline, EVENT_BATCH)
            except Exception as exc:
                # Messages stay RECEIVED and are tried again, backing off to a minute; one line per kind
                # of failure (type and place; the traceback only at DEBUG), not one per try.
                what = describe(exc)
                rounds = failing[1] + 1 if failing and failing[0] == what else 1
                if rounds == 1:
                    log.error("pipeline %s: processing failed (%s); retrying with backoff", pipeline, what)
                log.debug("pipeline %s: processing failed", pipeline, exc_info=True)
                failing = (what, rounds)
                stop.wait(min(60.0, 2.0 ** (rounds - 1)))
                continue
            if failing is not None:
                log.info("pipeline %s: processing works again after %d failed tries", pipeline, failing[1])
                failing = None
            if stats.queued + stats.quarantined + stats.filtered + stats.sent == 0:
                stop.wait(IDLE_POLL_SECONDS)
    finally:
        engine.close()
        engine.store.close()


def start(config_path: Path, data_dir: Path, pipeline: str) -> tuple[multiprocessing.process.BaseProcess, EventType]:
    """Start the worker (spawned: no threads or sockets inherited from the listener's process)."""
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    process = ctx.Process(
        target=run,
        args=(str(config_path), str(data_dir), pipeline, stop, os.getpid()),
        name=f"renkei-worker:{pipeline}",
        daemon=True,
    )
    process.start()
    return process, stop

"""The bodies of the processing, delivery and sweep jobs."""

from __future__ import annotations

import logging
import time

from renkei.pipelines.cluster import queries
from renkei.pipelines.cluster.jobs import PROCESS_BATCH, JobQueue, deliver_job, delivery_lock, process_job
from renkei.pipelines.engine import Engine
from renkei.pipelines.runstats import RunStats

log = logging.getLogger("renkei.cluster")

ROUNDS = 50  # of up to 200 deliveries per job; a patient with more gets the rest in the next job
HELD_BACKOFF_MAX = 5.0


def process(engine: Engine, pipeline: str, message_ids: list[int]) -> RunStats:
    """Parse, filter and transform these messages (those still RECEIVED); their deliveries' jobs are
    deferred in the transaction that saves them."""
    stats = RunStats()
    rows = queries.received_rows(engine.store, message_ids)
    if rows:
        p = engine.pipeline(pipeline)
        engine.processing.process(p, engine.connector(p.source), [(r.id, r.source_key, r.raw, "") for r in rows], stats)
    return stats


def deliver(engine: Engine, queue: JobQueue, destination: str, message_id: int, held: int = 0) -> RunStats:
    """Deliver one (destination, patient)'s due deliveries in order. The job's procrastinate lock makes
    it the only deliverer of that patient to that destination anywhere in the cluster."""
    stats = RunStats()
    part = queries.order_part(engine.store, destination, message_id)
    if part is None:
        return stats  # the message was reprocessed since: its new deliveries have their own jobs
    run = queries.LeadingRun()
    for _ in range(ROUNDS):
        run = queries.leading_run(engine.store, destination, part, time.time())
        if not run.due:
            break
        stats.add(engine.delivery.deliver_batch(destination, run.due))
    if run.behind_front:
        # An earlier message of the pipeline is still being processed on some worker: look again shortly
        # (backing off), so this patient's order holds without stalling anyone else.
        delay = min(HELD_BACKOFF_MAX, 0.25 * 2**held)
        with engine.store.write(redoable=True, serialised=False) as conn:
            queue.defer(conn, [deliver_job((destination, part, message_id), time.time() + delay, held + 1)])
    return stats


def sweep(engine: Engine, queue: JobQueue, stale_seconds: float) -> tuple[int, int]:
    """What has no job: deliveries made due by an operator (approval, reprocess) or a lost job, and
    messages RECEIVED long ago (a processing job that failed for good). Returns (deliver, process) jobs."""
    now = time.time()
    active = queries.active_delivery_locks(engine.store)
    refs = [r for r in queries.due_order_refs(engine.store, now - 5.0) if delivery_lock(r[0], r[1]) not in active]
    stale = queries.stale_received(engine.store, now - stale_seconds)
    batch = [deliver_job(r) for r in refs]
    for pipeline, ids in stale.items():
        batch.extend(process_job(pipeline, ids[i : i + PROCESS_BATCH]) for i in range(0, len(ids), PROCESS_BATCH))
    if batch:
        with engine.store.write(redoable=True, serialised=False) as conn:
            queue.defer(conn, batch)
        log.info("sweep: %d delivery and %d processing jobs for work without one", len(refs), len(batch) - len(refs))
    return len(refs), len(batch) - len(refs)

"""Delivery: hand what is due to each destination through the gates, record outcomes, retry by policy.

One deliverer at a time per data folder; a patient's deliveries to one destination go out in order; a
refusal by a gate is DEAD with its reason; a failure is retried by the pipeline's RetryPolicy.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Callable
from itertools import groupby
from pathlib import Path
from typing import Any

from renkei.config.schema import RenkeiConfig
from renkei.errors import PartialDeliveryError, PermanentDeliveryError, RefusedError, RenkeiError
from renkei.pipelines.documents import FileResolver
from renkei.pipelines.gates import Gates
from renkei.pipelines.holds import DeliveryHolds
from renkei.pipelines.outages import OutageLog, describe
from renkei.pipelines.retry import RetryPolicy
from renkei.pipelines.runstats import Progress, RunStats
from renkei.pipelines.schema import DeliveryState
from renkei.pipelines.store import DeliveryOutcome, DueDelivery, Store
from renkei.pipelines.store.items import quarantine_note

log = logging.getLogger("renkei.engine")

DELIVERY_LOCK = "deliver.lock"


class Delivery:
    def __init__(
        self, config: RenkeiConfig, store: Store, gates: Gates, connector: Callable[[str], Any], data_dir: Path
    ) -> None:
        self.config = config
        self.store = store
        self.gates = gates
        self.connector = connector
        self.data_dir = data_dir
        self._policies = {p.name: RetryPolicy(p.retry) for p in config.pipelines}
        self._default_policy = RetryPolicy()  # user pushes (level 3) are not a configured pipeline
        self._delivery_lock = threading.Lock()
        self._outages = OutageLog()
        self._holds = DeliveryHolds(store)
        sources = {p.name: p.source for p in config.pipelines}
        self._files = FileResolver(store, lambda name: connector(sources[name]) if name in sources else None)

    def deliver_due(self, limit: int = 1000, progress: Progress | None = None) -> RunStats:
        """Deliver everything due now, round after round, until nothing is due.

        One deliverer at a time per data folder (threads and processes alike: the scheduler's retry job,
        a pipeline run, an event worker), so a delivery is never handed to a destination twice at once
        and a patient's order holds. The lock is an OS file lock: a killed process releases it."""
        with self._delivery_lock, open(self.data_dir / DELIVERY_LOCK, "a+b") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            return self._deliver_due(limit, progress)

    def deliver_batch(self, dest_name: str, items: list[DueDelivery]) -> RunStats:
        """Deliver these (one destination's, in order) and record the outcomes: a delivery job's round
        (pipelines/cluster), whose procrastinate lock replaces the data folder's deliverer lock."""
        stats = RunStats()
        outcomes = self._deliver_isolated(dest_name, items)
        self.store.save_delivery_outcomes(outcomes)
        for o in outcomes:
            stats.sent += o.state is DeliveryState.SENT
            stats.dead += o.state is DeliveryState.DEAD
            stats.failed += o.state is DeliveryState.ERROR
        return stats

    def _deliver_due(self, limit: int, progress: Progress | None) -> RunStats:
        """Rounds of due deliveries. Each destination's part of a round is isolated: whatever fails there
        (connect, auth, group creation, a connector bug) becomes that destination's ERROR outcomes with
        backoff, recorded per delivery, while the other destinations deliver. A DEAD head holds its
        patient's later deliveries to that destination (holds.py)."""
        stats = RunStats()
        destinations = list(self.config.connectors)
        attempted: set[int] = set()
        self._holds.refresh()
        while due := self.store.due_deliveries(time.time(), limit, destinations):
            if attempted.issuperset(d.id for d in due):
                break  # nothing new is due (e.g. an outcome could not be recorded): never spin
            attempted.update(d.id for d in due)
            outcomes: list[DeliveryOutcome] = []
            for dest, items in groupby(sorted(due, key=lambda d: (d.destination, d.id)), key=lambda d: d.destination):
                outcomes.extend(self._deliver_isolated(dest, list(items)))
            self.store.save_delivery_outcomes(outcomes)
            for o in outcomes:
                if o.state is DeliveryState.SENT:
                    stats.sent += 1
                elif o.state is DeliveryState.DEAD:
                    stats.dead += 1
                else:
                    stats.failed += 1
            if progress:
                progress("delivered", len(outcomes))
            if any(o.state is DeliveryState.DEAD for o in outcomes):
                self._holds.refresh()  # before the next round: nothing may pass the new DEAD heads
            if all(o.state is not DeliveryState.SENT for o in outcomes):
                break  # everything due failed: wait for the retry times
        return stats

    def _deliver_isolated(self, dest_name: str, items: list[DueDelivery]) -> list[DeliveryOutcome]:
        try:
            outcomes = self._deliver(dest_name, items)
        except Exception as exc:  # the destination as a whole failed: each patient's next delivery backs off
            now = time.time()
            outcomes = [self._failure(d, exc, now) for d in _heads(items)]
        failures = [o.error for o in outcomes if o.state is not DeliveryState.SENT and not _refused(o)]
        sent = sum(o.state is DeliveryState.SENT for o in outcomes)
        self._outages.observe(dest_name, failures, sent, time.time())
        dead = [o for o in outcomes if o.state is DeliveryState.DEAD and not _refused(o)]
        if dead:  # one line per round: each reason is on its delivery
            log.warning(
                "%d deliveries to %s are DEAD and hold their patients' later ones (renkei messages list --state "
                "DEAD; renkei reprocess or --skip)", len(dead), dest_name,
            )  # fmt: skip
        if partial := sum(o.state is DeliveryState.SENT and bool(o.error) for o in outcomes):
            log.warning(
                "%d deliveries to %s went with some records quarantined (renkei messages list --state QUARANTINED)",
                partial, dest_name,
            )  # fmt: skip
        return outcomes

    def _deliver(self, dest_name: str, items: list[DueDelivery]) -> list[DeliveryOutcome]:
        now = time.time()
        known = self.store.known_receipts(dest_name, [d.idempotency_key for d in items])
        outcomes = [
            DeliveryOutcome(d, DeliveryState.SENT, receipt=known[d.idempotency_key], attempted_at=now)
            for d in items
            if d.idempotency_key in known
        ]
        todo = [d for d in items if d.idempotency_key not in known]
        if not todo:
            return outcomes
        dest = self.connector(dest_name)
        prepared = self.gates.prepare(dest_name, dest, todo)
        # A refusal (RefusedError) or a failure to get the patient's group ready (another exception)
        unready = {d.id: p for d, p in zip(todo, prepared, strict=True) if isinstance(p, Exception)}
        refused_ids = {i for i, p in unready.items() if isinstance(p, RefusedError)}
        if refused := len(refused_ids):  # one line per batch: each refusal is on its delivery and in the audit log
            log.warning("%d deliveries to %s refused by gates (renkei messages list --state DEAD)", refused, dest_name)
        failed_heads = {d.id for d in _heads([d for d in todo if d.id in unready and d.id not in refused_ids])}
        for d in todo:  # a refusal is per delivery; a failure holds the patient's later ones back this round
            if d.id in refused_ids or d.id in failed_heads:
                outcomes.append(self._failure(d, unready[d.id], now))
        todo, payloads = (
            [d for d in todo if d.id not in unready],
            [p for p in prepared if not isinstance(p, Exception)],
        )
        results: list[str | Exception | _HeldBack] = []
        if not todo:
            return outcomes
        todo, payloads = self._with_files(todo, payloads, outcomes, now)
        if not todo:
            return outcomes
        if hasattr(dest, "deliver_many"):
            try:
                results = list(dest.deliver_many([(p, d.idempotency_key) for d, p in zip(todo, payloads, strict=True)]))
            except Exception as exc:  # the whole batch failed: every item is retried by policy
                results = [exc] * len(todo)
        else:
            failed: set[tuple[str, str]] = set()
            for d, payload in zip(todo, payloads, strict=True):
                if d.order_key in failed:
                    results.append(_HeldBack())
                    continue
                try:
                    results.append(dest.deliver(payload, d.idempotency_key))
                except Exception as exc:
                    results.append(exc)
                    failed.add(d.order_key)
        for d, result in zip(todo, results, strict=True):
            if isinstance(result, _HeldBack):
                continue
            if isinstance(result, PartialDeliveryError):  # SENT; the refused records quarantine the message
                note = quarantine_note(d.destination, result.quarantined)
                outcomes.append(
                    DeliveryOutcome(d, DeliveryState.SENT, receipt=result.receipt, error=note, attempted_at=now)
                )
            elif isinstance(result, Exception):
                outcomes.append(self._failure(d, result, now))
            else:
                outcomes.append(DeliveryOutcome(d, DeliveryState.SENT, receipt=str(result), attempted_at=now))
        return outcomes

    def _with_files(
        self, todo: list[DueDelivery], payloads: list[dict[str, Any]], outcomes: list[DeliveryOutcome], now: float
    ) -> tuple[list[DueDelivery], list[dict[str, Any]]]:
        """Document bytes put into the payloads from the stored raw input (documents.py); a delivery whose
        file cannot be had fails on its own (recorded in `outcomes`), the others go on."""
        kept, kept_payloads = [], []
        for d, payload in zip(todo, payloads, strict=True):
            try:
                kept_payloads.append(self._files.resolve(d, payload))
                kept.append(d)
            except Exception as exc:
                outcomes.append(self._failure(d, exc, now))
        return kept, kept_payloads

    def _failure(self, d: DueDelivery, exc: Exception, now: float) -> DeliveryOutcome:
        """DEAD for a refusal or a permanent error, else ERROR with the policy's backoff until `max_age`.
        Not logged here: the outage log writes one line per failing destination (outages.py)."""
        error = f"{type(exc).__name__}: {exc}" if isinstance(exc, RenkeiError) else f"{describe(exc)}: {exc}"
        if isinstance(exc, RefusedError):  # one spelling for every refusal: push() and holds.py look for it
            return DeliveryOutcome(d, DeliveryState.DEAD, error=f"RefusedError: {exc}", attempted_at=now)
        if isinstance(exc, PermanentDeliveryError):
            return DeliveryOutcome(d, DeliveryState.DEAD, error=error, attempted_at=now)
        decision = self._policies.get(d.pipeline, self._default_policy).after_failure(
            d.attempts + 1, d.first_attempt_at or now, now
        )
        if decision.give_up:
            return DeliveryOutcome(d, DeliveryState.DEAD, error=f"retries exhausted: {error}", attempted_at=now)
        return DeliveryOutcome(
            d, DeliveryState.ERROR, error=error, next_attempt_at=now + decision.delay, attempted_at=now
        )


def _heads(items: list[DueDelivery]) -> list[DueDelivery]:
    """The first of each patient's deliveries (items are in id order): the ones a failure is recorded on,
    while the later ones wait behind them (their order is kept by `due_deliveries`)."""
    heads: dict[tuple[str, str], DueDelivery] = {}
    for d in items:
        heads.setdefault(d.order_key, d)
    return list(heads.values())


def _refused(o: DeliveryOutcome) -> bool:
    return o.error.startswith(RefusedError.__name__)


class _HeldBack:
    """Placeholder: an earlier delivery of the same patient failed in this round, so this one waits."""

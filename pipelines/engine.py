"""The engine: moves each message along RECEIVED → (QUARANTINED | FILTERED | QUEUED) → SENT/ERROR/DEAD.

One pipeline run = scan the source for new or changed inputs, store them durably (RECEIVED) in batches,
then parse, filter and transform each into per-destination deliveries (QUEUED), then deliver what is due.
Messages left RECEIVED by a crash are picked up first on the next run; deliveries cut off by a crash are
retried under the same idempotency key, which the engine's ledger and each destination both honour, so
nothing is lost and nothing is posted twice.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from renkei.config.loader import LoadedConfig
from renkei.config.schema import PipelineConfig
from renkei.connectors.base import Parsed, Source, SourceItem, TimelinePost
from renkei.connectors.registry import connector_class
from renkei.db import dumps
from renkei.errors import (
    ConfigError,
    InputError,
    PermanentDeliveryError,
    RefusedError,
    RetryableDeliveryError,
)
from renkei.pipelines.audit import AuditEntry, current_actor
from renkei.pipelines.connector_services import connector_context
from renkei.pipelines.gates import PUSH_PIPELINE, Gates
from renkei.pipelines.retry import RetryPolicy
from renkei.pipelines.schema import DeliveryState, MessageState
from renkei.pipelines.store import DeliveryOutcome, DueDelivery, NewDelivery, Processed, Received, Store
from renkei.pipelines.transform import Transformer, sensitivity_of
from renkei.records import Note

log = logging.getLogger("renkei.engine")

BATCH = 500
DELIVERY_LOCK = "deliver.lock"
LEDGER_WINDOW = 2000


@dataclass(slots=True)
class RunStats:
    received: int = 0
    quarantined: int = 0
    filtered: int = 0
    queued: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    unchanged: int = 0
    seconds: float = 0.0

    def add(self, other: RunStats) -> None:
        for name in ("received", "quarantined", "filtered", "queued", "sent", "failed", "dead", "unchanged"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


Progress = Callable[[str, int], None]  # (phase, count just done)


class Engine:
    def __init__(self, loaded: LoadedConfig, store: Store, data_dir: Path) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.store = store
        self.data_dir = data_dir
        self.transformer = Transformer(self.config, self.connector)
        self.gates = Gates(store, {p.name: p for p in self.config.pipelines})
        self._connectors: dict[str, Any] = {}
        self._policies = {p.name: RetryPolicy(p.retry) for p in self.config.pipelines}
        self._default_policy = RetryPolicy()  # user pushes (level 3) are not a configured pipeline
        self._pending = {p.name: threading.Event() for p in self.config.pipelines}
        self._delivery_lock = threading.Lock()
        data_dir.mkdir(parents=True, exist_ok=True)

    # -- connectors -------------------------------------------------------------------------------
    def connector(self, name: str) -> Any:
        conn = self._connectors.get(name)
        if conn is None:
            cls = connector_class(self.config.connectors[name].type)
            context = connector_context(self, name)  # what a connector may ask of the engine
            conn = self._connectors[name] = cls(name, self.loaded.connector_settings[name], context)
        return conn

    def _audit(self, action: str, patient_id: str, detail: str) -> None:
        self.store.audit([AuditEntry(action, patient_id, "connector", detail)])

    def close(self) -> None:
        for conn in self._connectors.values():
            conn.close()
        self._connectors.clear()

    def pipeline(self, name: str) -> PipelineConfig:
        for p in self.config.pipelines:
            if p.name == name:
                return p
        raise KeyError(name)

    # -- one run ----------------------------------------------------------------------------------
    def run_pipeline(self, p: PipelineConfig, progress: Progress | None = None) -> RunStats:
        started = time.perf_counter()
        stats = RunStats()
        source: Source = self.connector(p.source)
        self._process_stored(p, source, stats, progress)
        for batch in _batches(self._new_items(p, source, stats), BATCH):
            received = [self._read(source, item) for item in batch]
            ids = self.store.receive_many(p.name, p.source, received)
            stats.received += len(ids)
            self._process(
                p, source, [(mid, r.key, r.raw, r.read_error) for mid, r in zip(ids, received, strict=True)], stats
            )
            if progress:
                progress("stored", len(ids))
            # Deliver as we go, so a long batch posts steadily and the queue stays about one batch deep.
            stats.add(self.deliver_due(progress=progress))
        stats.add(self.deliver_due(progress=progress))
        stats.seconds = time.perf_counter() - started
        return stats

    def _new_items(self, p: PipelineConfig, source: Source, stats: RunStats) -> Iterator[SourceItem]:
        """Items whose key is new or whose fingerprint changed. The ledger is loaded for a few whole
        groups at a time (about LEDGER_WINDOW items), so memory stays flat however large the source."""
        window: list[SourceItem] = []
        for _group, items in groupby(source.scan(), key=lambda it: it.group):
            window.extend(items)
            if len(window) >= LEDGER_WINDOW:
                yield from self._unseen(p, window, stats)
                window = []
        yield from self._unseen(p, window, stats)

    def _unseen(self, p: PipelineConfig, window: list[SourceItem], stats: RunStats) -> Iterator[SourceItem]:
        if not window:
            return
        known = self.store.ledger_groups(p.name, sorted({it.group for it in window}))
        for item in window:
            if known.get(item.key) == item.fingerprint:
                stats.unchanged += 1
            else:
                yield item

    @staticmethod
    def _read(source: Source, item: SourceItem) -> Received:
        try:
            raw = source.read(item.key)
        except InputError as exc:
            return Received(item.key, item.fingerprint, b"", item.group, read_error=str(exc))
        return Received(item.key, item.fingerprint, raw, item.group)

    def _process_stored(
        self, p: PipelineConfig, source: Source, stats: RunStats, progress: Progress | None, batch: int = BATCH
    ) -> None:
        """Messages stored RECEIVED but never processed (pushed, left by a crash, or reset by reprocess)."""
        after = 0
        while rows := self.store.received_messages(p.name, after, batch):
            after = rows[-1].id
            self._process(p, source, [(r.id, r.source_key, r.raw, "") for r in rows], stats)
            if progress:
                progress("recovered", len(rows))

    def _process(
        self, p: PipelineConfig, source: Source, batch: list[tuple[int, str, bytes, str]], stats: RunStats
    ) -> None:
        parsed: list[tuple[int, str, Parsed | None, str]] = []
        for mid, key, raw, read_error in batch:
            if read_error:
                stats.quarantined += 1  # already stored QUARANTINED by receive_many
                continue
            try:
                parsed.append((mid, key, source.parse(key, raw), ""))
            except InputError as exc:
                parsed.append((mid, key, None, str(exc)))
            except Exception as exc:  # a parser bug must not stop the batch; it is kept, visible and reprocessable
                log.error("parser failed on message %s: %s", mid, type(exc).__name__)
                parsed.append((mid, key, None, f"{key}: parser failed unexpectedly: {_where(exc)}"))
        patients = self.store.patient_basics([x[2].patient_id for x in parsed if x[2] is not None])
        results = []
        for mid, _key, result, reason in parsed:
            if result is None:
                results.append(Processed(mid, p.name, MessageState.QUARANTINED, reason=reason))
                stats.quarantined += 1
                continue
            processed = self.transformer.transform(p, mid, result, patients)
            results.append(processed)
            if processed.state is MessageState.FILTERED:
                stats.filtered += 1
            elif processed.state is MessageState.QUARANTINED:
                stats.quarantined += 1
            else:
                stats.queued += 1
        self.store.save_processed(results)

    # -- push sources ------------------------------------------------------------------------------
    def ingest(self, pipeline: str, items: Sequence[tuple[SourceItem, bytes]]) -> list[tuple[int, bool]]:
        """Durably store what a push source received; returns (message id, duplicate) per item.

        An item whose key is already in the pipeline's ledger is a duplicate (e.g. a resent MSH-10): it
        is not stored or processed again, and the caller may acknowledge it as before.
        """
        p = self.pipeline(pipeline)
        out = self.store.receive_new(
            p.name, p.source, [Received(it.key, it.fingerprint, raw, it.group) for it, raw in items]
        )
        self._pending[p.name].set()
        return out

    def process_pending(self, pipeline: str, batch: int | None = None) -> RunStats:
        """Process what push sources stored, then deliver what is due.

        With `batch`, only that many messages are processed before delivering (call again for more):
        under a steady feed, processing and delivering then alternate instead of delivery waiting for a
        pause, and each write transaction stays short so a listener's commits (its ACKs) wait less."""
        p = self.pipeline(pipeline)
        stats = RunStats()
        source = self.connector(p.source)
        if batch is None:
            self._process_stored(p, source, stats, None)
        elif rows := self.store.received_messages(p.name, 0, batch):
            self._process(p, source, [(r.id, r.source_key, r.raw, "") for r in rows], stats)
        stats.add(self.deliver_due(limit=batch or 1000))
        return stats

    def wait_pending(self, pipeline: str, timeout: float) -> bool:
        event = self._pending[pipeline]
        fired = event.wait(timeout)
        event.clear()
        return fired

    # -- delivering -------------------------------------------------------------------------------
    def deliver_due(self, limit: int = 1000, progress: Progress | None = None) -> RunStats:
        """Deliver everything due now, round after round, until nothing is due.

        One deliverer at a time per data folder (threads and processes alike: the scheduler's retry job,
        a pipeline run, an event worker), so a delivery is never handed to a destination twice at once
        and a patient's order holds. The lock is an OS file lock: a killed process releases it."""
        with self._delivery_lock, open(self.data_dir / DELIVERY_LOCK, "a+b") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            return self._deliver_due(limit, progress)

    def _deliver_due(self, limit: int, progress: Progress | None) -> RunStats:
        stats = RunStats()
        destinations = list(self.config.connectors)
        attempted: set[int] = set()
        while due := self.store.due_deliveries(time.time(), limit, destinations):
            if attempted.issuperset(d.id for d in due):
                break  # nothing new is due (e.g. an outcome could not be recorded): never spin
            attempted.update(d.id for d in due)
            outcomes: list[DeliveryOutcome] = []
            for dest, items in groupby(sorted(due, key=lambda d: (d.destination, d.id)), key=lambda d: d.destination):
                outcomes.extend(self._deliver(dest, list(items)))
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
            if all(o.state is not DeliveryState.SENT for o in outcomes):
                break  # everything due failed: wait for the retry times
        return stats

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
        refused = {d.id: p for d, p in zip(todo, prepared, strict=True) if isinstance(p, RefusedError)}
        if refused:  # one line per batch: each refusal is on its delivery and in the audit log
            log.warning(
                "%d deliveries to %s refused by gates (renkei messages list --state DEAD)", len(refused), dest_name
            )
        for d in todo:
            if d.id in refused:
                outcomes.append(self._failure(d, refused[d.id], now))
        todo, payloads = (
            [d for d in todo if d.id not in refused],
            [p for p in prepared if not isinstance(p, RefusedError)],
        )
        results: list[str | Exception | _HeldBack] = []
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
            if isinstance(result, Exception):
                outcomes.append(self._failure(d, result, now))
            else:
                outcomes.append(DeliveryOutcome(d, DeliveryState.SENT, receipt=str(result), attempted_at=now))
        return outcomes

    def _failure(self, d: DueDelivery, exc: Exception, now: float) -> DeliveryOutcome:
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, RefusedError):
            return DeliveryOutcome(d, DeliveryState.DEAD, error=error, attempted_at=now)
        if isinstance(exc, PermanentDeliveryError):
            log.warning("delivery %s to %s failed permanently: %s", d.id, d.destination, type(exc).__name__)
            return DeliveryOutcome(d, DeliveryState.DEAD, error=error, attempted_at=now)
        if not isinstance(exc, RetryableDeliveryError):
            log.error("delivery %s to %s failed unexpectedly: %s", d.id, d.destination, _where(exc))
        decision = self._policies.get(d.pipeline, self._default_policy).after_failure(
            d.attempts + 1, d.first_attempt_at or now, now
        )
        if decision.give_up:
            return DeliveryOutcome(d, DeliveryState.DEAD, error=f"retries exhausted: {error}", attempted_at=now)
        return DeliveryOutcome(
            d, DeliveryState.ERROR, error=error, next_attempt_at=now + decision.delay, attempted_at=now
        )

    # -- level 3: a user's push ---------------------------------------------------------------------
    def push(self, destination: str, post: TimelinePost, actor: str = "") -> int:
        """Send what a user chose (text, tags, links, attachments) to one patient's timeline, through the
        same path as everything else: stored, gated, retried, audited. Returns the message id; raises
        RefusedError with the reason when a gate refuses (nothing is posted then)."""
        if destination not in self.config.connectors:
            raise ConfigError(f"unknown destination {destination!r}; known: {', '.join(self.config.connectors)}")
        raw = dumps(post.to_dict()).encode("utf-8")
        item = Received(f"push:{uuid.uuid4().hex}", "", raw, group=post.patient_id)
        (mid,) = self.store.receive_many(PUSH_PIPELINE, f"user:{actor or current_actor()}", [item])
        note = Note(patient_id=post.patient_id, text=post.text, tags=list(post.tags), author=actor or current_actor())
        records = [note.to_dict()]
        level = sensitivity_of(self.config.sensitivity, "NOTE", records, post.tags)
        self.store.save_processed(
            [
                Processed(
                    mid, PUSH_PIPELINE, MessageState.QUEUED, patient_id=post.patient_id, data_type="NOTE",
                    records=records, warnings=[f"sensitivity {level}"],
                    deliveries=[NewDelivery(destination, f"push:{mid}", post.to_dict())],
                )
            ]
        )  # fmt: skip
        self.deliver_due()
        _msg, dels = self.store.get_message(mid)
        if dels and dels[0].state == DeliveryState.DEAD and dels[0].last_error.startswith("RefusedError"):
            raise RefusedError(dels[0].last_error.removeprefix("RefusedError: "))
        return mid

    def link_card(self, destination: str, patient_id: str, viewer: str, actor: str = "") -> int:
        """Level 2: push the person's EHR-viewer link card (connectors/viewer_links.py); an unlinked
        viewer id raises UnlinkedViewerError (audited), a gate refusal RefusedError."""
        from renkei.connectors.viewer_links import post_link_card  # it builds on this engine

        return post_link_card(self, destination, patient_id, viewer, actor)

    # -- operators --------------------------------------------------------------------------------
    def reprocess(self, message_ids: Iterable[int]) -> dict[int, str]:
        """Re-read fixed input where the source can (files), reset, and run the message again."""
        out: dict[int, str] = {}
        touched: set[str] = set()
        for mid in message_ids:
            msg, _ = self.store.get_message(mid)
            if msg is None:
                continue
            new_raw, fingerprint = None, None
            if msg.state in (MessageState.QUARANTINED, MessageState.FILTERED):
                source = self.connector(self.pipeline(msg.pipeline).source)
                try:
                    # Fingerprint first: if the file changes after, the next scan reads it again.
                    fingerprint = source.fingerprint(msg.source_key) if hasattr(source, "fingerprint") else None
                    new_raw = source.read(msg.source_key)
                except (InputError, OSError):
                    new_raw, fingerprint = None, None  # the input is gone: re-run the stored bytes
            out[mid] = self.store.reset_for_reprocess(mid, new_raw, fingerprint)
            touched.add(msg.pipeline)
        for name in touched & {p.name for p in self.config.pipelines}:
            p = self.pipeline(name)
            self._process_stored(p, self.connector(p.source), RunStats(), None)
        self.deliver_due()
        return out


class _HeldBack:
    """Placeholder: an earlier delivery of the same patient failed in this round, so this one waits."""


def _batches(items: Iterable[SourceItem], size: int) -> Iterator[list[SourceItem]]:
    batch: list[SourceItem] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _where(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    place = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    return f"{type(exc).__name__}{place}"

"""The engine: moves each message along RECEIVED → (QUARANTINED | FILTERED | QUEUED) → SENT/ERROR/DEAD.

One pipeline run = scan the source for new or changed inputs, store them durably (RECEIVED) in batches,
then parse, filter and transform each into per-destination deliveries (QUEUED), then deliver what is due.
Messages left RECEIVED by a crash are picked up first on the next run; deliveries cut off by a crash are
retried under the same idempotency key, which the engine's ledger and each destination both honour, so
nothing is lost and nothing is posted twice.

The Engine is a small facade over the phases, one module each: intake.py (find and store what is new),
processing.py (parse, filter, transform), delivery.py (gates, destinations, retry policy); the levels'
rules for what a person asks (render, link card, push) are in levels.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from itertools import chain, islice
from pathlib import Path
from typing import Any

from renkei.config.loader import LoadedConfig
from renkei.config.schema import PipelineConfig
from renkei.connectors.base import Source, SourceItem, TimelinePost
from renkei.connectors.registry import connector_class
from renkei.errors import InputError
from renkei.pipelines import levels, parallel
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.connector_services import connector_context
from renkei.pipelines.delivery import DELIVERY_LOCK, Delivery
from renkei.pipelines.gates import Gates
from renkei.pipelines.intake import BATCH, LEDGER_WINDOW, Intake, batches
from renkei.pipelines.processing import Processing
from renkei.pipelines.runstats import Progress, RunStats
from renkei.pipelines.schema import MessageState
from renkei.pipelines.store import Processed, Store
from renkei.pipelines.transform import Transformer

__all__ = ["BATCH", "DELIVERY_LOCK", "LEDGER_WINDOW", "Engine", "Progress", "RunStats"]


class Engine:
    def __init__(self, loaded: LoadedConfig, store: Store, data_dir: Path) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.store = store
        self.data_dir = data_dir
        self.transformer = Transformer(self.config, self.connector)
        self.gates = Gates(
            store, {p.name: p for p in self.config.pipelines}, self.config.privacy, self.config.push_gates
        )
        self._connectors: dict[str, Any] = {}
        self._pending = {p.name: threading.Event() for p in self.config.pipelines}
        self.intake = Intake(store)
        self.processing = Processing(store, self.transformer)
        self.delivery = Delivery(self.config, store, self.gates, self.connector, data_dir)
        self.cores = parallel.workers_available()  # processes that parse and transform a big batch run
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
        self.processing.process_stored(p, source, stats, progress)
        items = self.intake.new_items(p, source, stats)
        head = list(islice(items, 2 * parallel.CHUNK))
        if len(head) < 2 * parallel.CHUNK or not self._pool_possible():
            self._run_serial(p, source, chain(head, items), stats, progress)
        else:
            self._run_pooled(p, source, chain(head, items), stats, progress)
        stats.add(self.deliver_due(progress=progress))
        stats.seconds = time.perf_counter() - started
        return stats

    def _pool_possible(self) -> bool:
        url = getattr(self.store, "url", "sqlite://")  # a pool process opens the store by its URL
        return self.cores > 1 and not (url in ("sqlite://", "sqlite:///") or ":memory:" in url)

    def _run_serial(
        self, p: PipelineConfig, source: Source, items: Iterable[SourceItem], stats: RunStats, progress: Progress | None
    ) -> None:
        for batch in batches(items, BATCH):
            received = [self.intake.read(source, item) for item in batch]
            ids = self.store.receive_many(p.name, p.source, received)
            stats.received += len(ids)
            self.processing.process(
                p, source, [(mid, r.key, r.raw, r.read_error) for mid, r in zip(ids, received, strict=True)], stats
            )
            if progress:
                progress("stored", len(ids))
            # Deliver as we go, so a long batch posts steadily and the queue stays about one batch deep.
            stats.add(self.deliver_due(progress=progress))

    def _run_pooled(
        self, p: PipelineConfig, source: Source, items: Iterable[SourceItem], stats: RunStats, progress: Progress | None
    ) -> None:
        """As _run_serial, with parsing and transforming in a process per core (parallel.py); this process
        stores, saves results in order, and delivers."""
        pool = parallel.ProcessPool(self.loaded.path, self.data_dir, getattr(self.store, "url", ""), self.cores)

        def redo(rows: list[parallel.Row], redo_stats: RunStats) -> list[Processed]:
            return self.processing.prepare(p, source, rows, redo_stats)

        def save_ready(wait_all: bool) -> None:
            saved = False
            for results, chunk_stats in pool.results(wait_all, redo):
                self.store.save_processed(results)
                stats.add(chunk_stats)
                saved = True
            if saved:
                stats.add(self.deliver_due(progress=progress))

        try:
            for chunk in parallel.patient_chunks(items, parallel.CHUNK):
                received = [self.intake.read(source, item) for item in chunk]
                ids = self.store.receive_many(p.name, p.source, received)
                stats.received += len(ids)
                pool.submit(p.name, [(mid, r.key, r.raw, r.read_error) for mid, r in zip(ids, received, strict=True)])
                if progress:
                    progress("stored", len(ids))
                save_ready(wait_all=False)
            save_ready(wait_all=True)
        finally:
            pool.close()

    # -- push sources ------------------------------------------------------------------------------
    def ingest(self, pipeline: str, items: Sequence[tuple[SourceItem, bytes]]) -> list[tuple[int, bool]]:
        """Durably store what a push source received; returns (message id, duplicate) per item.

        An item whose key is already in the pipeline's ledger is a duplicate (e.g. a resent MSH-10): it
        is not stored or processed again, and the caller may acknowledge it as before.
        """
        p = self.pipeline(pipeline)
        out = self.intake.receive_pushed(p, items)
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
            self.processing.process_stored(p, source, stats, None)
        elif rows := self.store.received_messages(p.name, 0, batch):
            self.processing.process(p, source, [(r.id, r.source_key, r.raw, "") for r in rows], stats)
        stats.add(self.deliver_due(limit=batch or 1000))
        return stats

    def wait_pending(self, pipeline: str, timeout: float) -> bool:
        event = self._pending[pipeline]
        fired = event.wait(timeout)
        event.clear()
        return fired

    # -- delivering -------------------------------------------------------------------------------
    def deliver_due(self, limit: int = 1000, progress: Progress | None = None) -> RunStats:
        """Deliver everything due now (delivery.py): one deliverer at a time per data folder."""
        return self.delivery.deliver_due(limit, progress)

    # -- levels 2 and 3: what a user asks (levels.py) ----------------------------------------------
    def push(self, destination: str, post: TimelinePost, actor: str = "") -> int:
        """Level 3: send what a user chose to one patient's timeline (levels.push: stored, rated, gated,
        retried, audited). Returns the message id; raises RefusedError with the reason on a refusal."""
        return levels.push(self, destination, post, actor)

    def link_card(self, destination: str, patient_id: str, viewer: str, actor: str = "") -> int:
        """Level 2: push the person's EHR-viewer link card (levels.post_link_card); an unlinked viewer id
        raises UnlinkedViewerError (audited), a gate refusal RefusedError."""
        return levels.post_link_card(self, destination, patient_id, viewer, actor)

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
            self.processing.process_stored(p, self.connector(p.source), RunStats(), None)
        self.deliver_due()
        return out

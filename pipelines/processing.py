"""Processing: parse each stored message, then filter and transform it into per-destination deliveries.

A parse failure quarantines that message with its reason (kept, visible, reprocessable); it never stops
the batch. Results are saved one transaction per batch.
"""

from __future__ import annotations

import logging

from renkei.config.schema import PipelineConfig
from renkei.connectors.base import Parsed, Source
from renkei.errors import InputError
from renkei.pipelines.intake import BATCH
from renkei.pipelines.runstats import Progress, RunStats
from renkei.pipelines.runstats import where_failed as _where
from renkei.pipelines.schema import MessageState
from renkei.pipelines.store import Processed, Store
from renkei.pipelines.transform import Transformer

log = logging.getLogger("renkei.engine")


class Processing:
    def __init__(self, store: Store, transformer: Transformer) -> None:
        self.store = store
        self.transformer = transformer

    def process_stored(
        self, p: PipelineConfig, source: Source, stats: RunStats, progress: Progress | None, batch: int = BATCH
    ) -> None:
        """Messages stored RECEIVED but never processed (pushed, left by a crash, or reset by reprocess)."""
        after = 0
        while rows := self.store.received_messages(p.name, after, batch):
            after = rows[-1].id
            self.process(p, source, [(r.id, r.source_key, r.raw, "") for r in rows], stats)
            if progress:
                progress("recovered", len(rows))

    def process(
        self, p: PipelineConfig, source: Source, batch: list[tuple[int, str, bytes, str]], stats: RunStats
    ) -> None:
        self.store.save_processed(self.prepare(p, source, batch, stats))

    def prepare(
        self, p: PipelineConfig, source: Source, batch: list[tuple[int, str, bytes, str]], stats: RunStats
    ) -> list[Processed]:
        """Parse and transform a batch without saving it (a pool process runs this: parallel.py)."""
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
        return results

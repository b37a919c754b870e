"""Intake: find what is new at a source and store it durably (RECEIVED) before anything else happens.

A scanning source is compared with the source ledger a few whole groups at a time; a push source's items
are stored at once, a resent key being a duplicate that is acknowledged again but not stored twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby

from renkei.config.schema import PipelineConfig
from renkei.connectors.base import Source, SourceItem
from renkei.errors import InputError
from renkei.pipelines.runstats import RunStats
from renkei.pipelines.store import Received, Store

BATCH = 500
LEDGER_WINDOW = 2000


class Intake:
    def __init__(self, store: Store) -> None:
        self.store = store

    def new_items(self, p: PipelineConfig, source: Source, stats: RunStats) -> Iterator[SourceItem]:
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
    def read(source: Source, item: SourceItem) -> Received:
        try:
            raw = source.read(item.key)
        except InputError as exc:
            return Received(item.key, item.fingerprint, b"", item.group, read_error=str(exc))
        return Received(item.key, item.fingerprint, raw, item.group)

    def receive_pushed(self, p: PipelineConfig, items: Sequence[tuple[SourceItem, bytes]]) -> list[tuple[int, bool]]:
        return self.store.receive_new(
            p.name, p.source, [Received(it.key, it.fingerprint, raw, it.group) for it, raw in items]
        )


def batches(items: Iterable[SourceItem], size: int) -> Iterator[list[SourceItem]]:
    batch: list[SourceItem] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch

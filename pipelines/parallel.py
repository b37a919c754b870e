"""Parse and transform on every core: a pool of processes for a batch run's CPU-bound middle.

A scan run is: find what is new, store it durably (RECEIVED), parse and transform it (most of the CPU:
the HL7 codec and the sandboxed templates), save the results, deliver. Only the middle step is spread:
the run's own process keeps every write (one writer, big transactions) and the delivery, while pool
processes parse and render chunks of stored messages and hand back `Processed` results, which the run
saves in the order the chunks were stored, so deliveries are created and sent in the same order as by
one process and per-patient order holds. A crash anywhere leaves messages RECEIVED (they were stored
before any chunk was handed out), and the next run processes them again, as without a pool.

Results must be the same as one process would produce. The only state a transform reads besides its
message is the patient basics saved by earlier messages (the name and birth date a post shows). A chunk
is handed out while earlier chunks may still be unsaved, so when it comes back its results are kept only
if none of its patients had basics written by a chunk that was unsaved when it was handed out; otherwise
the run re-processes that chunk itself, now that everything before it is saved. Chunks are cut at patient
folder boundaries, so this is rare.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from renkei.connectors.base import SourceItem
from renkei.pipelines.runstats import RunStats
from renkei.pipelines.store import Processed

log = logging.getLogger("renkei.engine")

Row = tuple[int, str, bytes, str]  # (message id, source key, raw, read error)

CHUNK = 200  # messages per task: big enough that pickling and IPC stay small beside the parsing
PER_WORKER_IN_FLIGHT = 2  # chunks queued per process, so none idles while the run saves and delivers
_engine: Any = None  # the Engine of a pool process (set by _start)


PROCESSES_ENV = "RENKEI_PROCESSES"  # an operator may cap the pool (1: no pool), e.g. on a shared server


def workers_available() -> int:
    """The pool's size: $RENKEI_PROCESSES, else the cores this process may run on; 1 means no pool."""
    if (wanted := os.environ.get(PROCESSES_ENV, "").strip()).isdigit():
        return max(1, int(wanted))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def patient_chunks(items: Iterable[SourceItem], size: int) -> Iterator[list[SourceItem]]:
    """Items in chunks of about `size`, cut where the group (an SS-MIX2 patient folder) changes, so one
    patient's files are parsed together (a chunk may run over `size` to end its group)."""
    chunk: list[SourceItem] = []
    for item in items:
        if len(chunk) >= size and item.group != chunk[-1].group:
            yield chunk
            chunk = []
        chunk.append(item)
    if chunk:
        yield chunk


def _start(config_path: str, data_dir: str, store_url: str) -> None:
    """A pool process: its own Engine on the same store (it only reads patient basics from it)."""
    global _engine
    from renkei.config.loader import load_config
    from renkei.pipelines.engine import Engine
    from renkei.pipelines.store import Store

    _engine = Engine(load_config(Path(config_path)), Store(store_url), Path(data_dir))


def _prepare(pipeline: str, rows: list[Row]) -> tuple[list[Processed], RunStats]:
    p = _engine.pipeline(pipeline)
    stats = RunStats()
    results = _engine.processing.prepare(p, _engine.connector(p.source), rows, stats)
    return results, stats


def _context() -> multiprocessing.context.BaseContext:
    """fork when this process runs one thread (`renkei run --once`): the pool starts at once, with
    nothing to import. The children never touch what they inherit from the run's process (its database
    handles and file locks): each opens its own store. A process with threads (the service: scheduler,
    listeners) must not fork; its pool forks from a forkserver that imported renkei once."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["renkei.pipelines.engine"])
        return ctx
    return multiprocessing.get_context("spawn")


@dataclass
class _Chunk:
    seq: int
    rows: list[Row]
    first_unsaved: int  # the seq of the oldest chunk not yet saved when this one was handed out
    future: Future[tuple[list[Processed], RunStats]] | None

    @property
    def ready(self) -> bool:
        return self.future is None or self.future.done()


class ProcessPool:
    """The pool of one run. `submit` hands a stored chunk to the processes; `results` yields, in order,
    the results to save, re-processed by the run when the check above asks for it."""

    def __init__(self, config_path: Path, data_dir: Path, store_url: str, workers: int) -> None:
        self.workers = workers
        self._executor = ProcessPoolExecutor(
            workers, mp_context=_context(), initializer=_start,
            initargs=(str(config_path), str(data_dir), store_url),
        )  # fmt: skip
        self._in_flight: deque[_Chunk] = deque()
        self._next_seq = 0
        self._saved_seq = 0  # chunks [0, _saved_seq) are saved
        self._written: dict[int, set[str]] = {}  # seq -> patients whose basics that chunk wrote

    def submit(self, pipeline: str, rows: list[Row]) -> None:
        try:
            future: Future[tuple[list[Processed], RunStats]] | None = self._executor.submit(_prepare, pipeline, rows)
        except BrokenProcessPool:  # a pool process died (e.g. killed): the run processes the chunk itself
            future = None
        self._in_flight.append(_Chunk(self._next_seq, rows, self._saved_seq, future))
        self._next_seq += 1

    @property
    def full(self) -> bool:
        return len(self._in_flight) >= self.workers * PER_WORKER_IN_FLIGHT

    def results(
        self, wait_all: bool, redo: Callable[[list[Row], RunStats], list[Processed]]
    ) -> Iterator[tuple[list[Processed], RunStats]]:
        """Results of the oldest chunks, in order: while the pool is full (or all with `wait_all`), and
        any finished already. The caller saves each before asking for the next."""
        while self._in_flight and (wait_all or self.full or self._in_flight[0].ready):
            chunk = self._in_flight.popleft()
            results, stats = [], RunStats()
            if chunk.future is not None:
                try:
                    results, stats = chunk.future.result()
                except BrokenProcessPool:
                    log.warning("a processing pool process ended unexpectedly; the run processes its chunks itself")
                    chunk.future = None
            touched = {r.patient_id for r in results if r.patient_id}
            stale = set().union(*(self._written.get(s, set()) for s in range(chunk.first_unsaved, chunk.seq)))
            if chunk.future is None or touched & stale:
                stats = RunStats()
                results = redo(chunk.rows, stats)
            self._written[chunk.seq] = {r.patient_id for r in results if r.patient_record and r.patient_id}
            yield results, stats  # the caller saves them before resuming us
            self._saved_seq = chunk.seq + 1
            oldest_needed = min((c.first_unsaved for c in self._in_flight), default=self._saved_seq)
            for s in [s for s in self._written if s < oldest_needed]:
                del self._written[s]

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

"""Group commit: many connections' messages stored with one transaction (one fsync) per batch.

Each store call is one fsync, so storing message by message caps ingest at the disk's fsync rate.
Connection handlers instead `submit` (item, raw) and await a future; one writer thread takes whatever
is waiting (up to `max_batch`), stores it with one `ingest` call, and resolves every future at once on
the event loop. With one connection a batch is one message (no added latency); with several, the writer
lingers up to `linger` seconds for one message per open connection, because MLLP senders wait for
each ACK: a batch can never hold more, and a half-full batch costs a whole fsync and ingest call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from renkei.connectors.base import Ingest, SourceItem

log = logging.getLogger("renkei.mllp")

_Entry = tuple[SourceItem, bytes, "asyncio.Future[tuple[int, bool]]"]


class GroupCommitter:
    def __init__(
        self,
        ingest: Ingest,
        loop: asyncio.AbstractEventLoop,
        max_batch: int = 256,
        *,
        want: Callable[[], int] = lambda: 1,
        linger: float = 0.0,
    ) -> None:
        self._ingest = ingest
        self._loop = loop
        self._max = max_batch
        self._want = want  # how many messages could be in flight now (open connections)
        self._linger = linger
        self._queue: queue.SimpleQueue[_Entry | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mllp-commit", daemon=True)
        self.batches = 0
        self.stored = 0
        self.seconds = 0.0  # time spent in ingest (for the bench and status)

    def start(self) -> None:
        self._thread.start()

    def submit(self, item: SourceItem, raw: bytes) -> asyncio.Future[tuple[int, bool]]:
        """Called on the event loop; the future resolves to (message id, duplicate) once committed."""
        fut: asyncio.Future[tuple[int, bool]] = self._loop.create_future()
        self._queue.put((item, raw, fut))
        return fut

    def stop(self, timeout: float = 10.0) -> None:
        """Store what is already queued (its ACKs may never be sent; senders resend, dedup absorbs it)."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        q = self._queue
        stopping = False
        while not stopping:
            first = q.get()
            if first is None:
                break
            batch = [first]
            # Each waiting sender has one message in flight (MLLP senders wait for the ACK), so a batch
            # can hold at most one per open connection: linger briefly for the rest of them, since one
            # fsync for all beats one each.
            want = min(self._max, max(1, self._want()))
            deadline = time.perf_counter() + self._linger
            while len(batch) < self._max:
                try:
                    nxt = q.get_nowait()
                except queue.Empty:
                    left = deadline - time.perf_counter()
                    if len(batch) >= want or left <= 0:
                        break
                    try:
                        nxt = q.get(timeout=left)
                    except queue.Empty:
                        break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            self._commit(batch)

    def _commit(self, batch: list[_Entry]) -> None:
        started = time.perf_counter()
        try:
            results: Sequence[tuple[int, bool]] | BaseException = self._ingest([(it, raw) for it, raw, _ in batch])
        except Exception as exc:  # nothing of this batch is stored: no ACK goes out, senders resend
            log.error("storing %d MLLP message(s) failed: %s: %s", len(batch), type(exc).__name__, exc)
            results = exc
        else:
            self.batches += 1
            self.stored += len(batch)
            self.seconds += time.perf_counter() - started
        futures = [fut for _, _, fut in batch]
        # RuntimeError: the loop is closed (listener stopped), nobody waits for these ACKs any more
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(_resolve, futures, results)


def _resolve(
    futures: list[asyncio.Future[tuple[int, bool]]], results: Sequence[tuple[int, bool]] | BaseException
) -> None:
    if isinstance(results, BaseException):
        for fut in futures:
            if not fut.done():
                fut.set_exception(results)
        return
    for fut, result in zip(futures, results, strict=True):
        if not fut.done():  # a handler cancelled by stop() or a dropped connection
            fut.set_result(result)

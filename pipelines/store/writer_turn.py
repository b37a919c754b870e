"""Whose turn it is to write a SQLite store: an OS file lock every writer of the file queues on.

SQLite lets one writer in at a time; a writer that finds the file locked does not wait in a queue but
sleeps and retries (1, 2, 5, 10, 15, 20, 25 … ms between tries), so an MLLP listener whose commit
arrives just after the processing worker began a transaction may sleep 25 ms and more past the moment
the worker commits: that is its ACK's p99. Taking an exclusive `flock` on a file beside the database
before BEGIN IMMEDIATE turns that into a short wait: the waiter tries the lock again after pauses of
0.2 ms growing to at most 2 ms, so it takes the turn within about 2 ms of its release, far below SQLite's
25 ms retry sleeps. SQLite's own locking still guards the file (a writer that skips this lock, e.g. an
older process, only waits the old way). A killed process releases its lock with its file descriptors.

The wait is bounded like SQLite's own (busy_timeout, 60 s): a writer that stalls while holding the turn
makes the others fail with WriterTurnTimeout (a bedside commit is then told to the nurse as not stored),
never hang. (A blocking flock cannot be given a timeout; hence the polling.)
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

WAIT_SECONDS = 60.0  # as SQLite's busy_timeout (db.py)
_FIRST_PAUSE, _LONGEST_PAUSE = 0.0002, 0.002


class WriterTurnTimeout(TimeoutError):
    """Another writer held the store's write turn longer than the wait allows."""


class WriterTurn:
    def __init__(self, url: str) -> None:
        u = sa.engine.make_url(url)
        db = u.database or ""
        self.path = f"{db}-writer.lock" if u.get_backend_name() == "sqlite" and db and db != ":memory:" else ""
        self._threads = threading.Lock()  # flock is per open file: threads of one process queue here first
        self._fd = -1
        self._pid = 0
        self.wait_seconds = WAIT_SECONDS

    @contextmanager
    def held(self) -> Iterator[None]:
        if not self.path:  # PostgreSQL (its writers queue in the server) or an in-memory database
            yield
            return
        deadline = time.monotonic() + self.wait_seconds
        if not self._threads.acquire(timeout=self.wait_seconds):
            raise WriterTurnTimeout(f"the store's write turn was held by another thread for {self.wait_seconds:.0f} s")
        try:
            if self._pid != os.getpid():  # opened lazily, and again in a forked child (its own lock)
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._pid = os.getpid()
            self._take(deadline)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _take(self, deadline: float) -> None:
        pause = _FIRST_PAUSE
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WriterTurnTimeout(
                        f"the store's write turn was held by another process for {self.wait_seconds:.0f} s"
                    ) from None
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self._pid = -1, 0

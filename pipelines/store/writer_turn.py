"""Whose turn it is to write a SQLite store: an OS file lock every writer of the file queues on.

SQLite lets one writer in at a time; a writer that finds the file locked does not wait in a queue but
sleeps and retries (1, 2, 5, 10, 15, 20, 25 … ms between tries), so an MLLP listener whose commit
arrives just after the processing worker began a transaction may sleep 25 ms and more past the moment
the worker commits: that is its ACK's p99. Taking an exclusive `flock` on a file beside the database
before BEGIN IMMEDIATE turns that into a real wait: the kernel wakes the waiter the moment the holder
releases. SQLite's own locking still guards the file (a writer that skips this lock, e.g. an older
process, only waits the old way). A killed process releases its lock with its file descriptors.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


class WriterTurn:
    def __init__(self, url: str) -> None:
        u = sa.engine.make_url(url)
        db = u.database or ""
        self.path = f"{db}-writer.lock" if u.get_backend_name() == "sqlite" and db and db != ":memory:" else ""
        self._threads = threading.Lock()  # flock is per open file: threads of one process queue here first
        self._fd = -1
        self._pid = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        if not self.path:  # PostgreSQL (its writers queue in the server) or an in-memory database
            yield
            return
        with self._threads:
            if self._pid != os.getpid():  # opened lazily, and again in a forked child (its own lock)
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self._pid = -1, 0

"""Writers of a SQLite store queue on a file lock beside it (store/writer_turn.py) instead of SQLite's
sleep-and-retry, in every process; PostgreSQL and in-memory stores need none."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from renkei.pipelines.store import Store
from renkei.pipelines.store.writer_turn import WriterTurn


def _try_lock(path: str) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_a_write_transaction_holds_the_turn_and_releases_it(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'renkei.sqlite'}")
    try:
        with store.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            lock = str(tmp_path / "renkei.sqlite-writer.lock")
            assert not _try_lock(lock)  # another process's writer waits here, woken when we commit
        assert _try_lock(lock)
        with pytest.raises(RuntimeError), store.write(redoable=True):
            assert not _try_lock(lock)
            raise RuntimeError("rolled back")
        assert _try_lock(lock)  # released on rollback too
    finally:
        store.close()


def test_a_second_process_writes_after_the_first_commits(tmp_path: Path) -> None:
    db = tmp_path / "renkei.sqlite"
    store = Store(f"sqlite:///{db}")
    child = (
        "import sys\nfrom renkei.pipelines.store import Store\n"
        f"s = Store('sqlite:///{db}')\nprint('ready', flush=True)\n"
        "with s.write() as c:\n    c.exec_driver_sql('INSERT INTO t VALUES (2)')\ns.close()\n"
    )
    try:
        with store.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with store.write() as conn:
            proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        proc.communicate(timeout=60)
        assert proc.returncode == 0
        with store.read() as conn:
            assert [r[0] for r in conn.exec_driver_sql("SELECT x FROM t ORDER BY rowid")] == [1, 2]
    finally:
        store.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "postgresql+psycopg://renkei@db/renkei"])
def test_no_lock_file_where_there_is_no_file(url: str) -> None:
    assert WriterTurn(url).path == ""


def test_a_turn_held_too_long_fails_the_waiter_instead_of_hanging_it(tmp_path: Path) -> None:
    import time

    from renkei.pipelines.store.writer_turn import WriterTurnTimeout

    db = tmp_path / "renkei.sqlite"
    turn = WriterTurn(f"sqlite:///{db}")
    turn.wait_seconds = 0.3
    stuck = os.open(f"{db}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)  # a writer that stalls holding it
    fcntl.flock(stuck, fcntl.LOCK_EX)
    try:
        started = time.monotonic()
        with pytest.raises(WriterTurnTimeout, match="held by another process"), turn.held():
            pass
        assert 0.3 <= time.monotonic() - started < 5
    finally:
        fcntl.flock(stuck, fcntl.LOCK_UN)
        os.close(stuck)
    with turn.held():  # released: the next writer takes it at once
        assert not _try_lock(f"{db}-writer.lock")
    turn.close()


def test_redoable_writers_checkpoint_after_their_turn_and_durable_commits_do_not(tmp_path: Path, monkeypatch) -> None:
    """A checkpoint runs after a redoable write, outside the turn, never inside an acknowledged commit."""
    import sqlite3

    from renkei.pipelines.store import connection

    db = tmp_path / "renkei.sqlite"

    def in_main_file(table: str) -> bool:  # immutable=1 reads the database file only, not the WAL
        c = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
        try:
            return bool(c.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0])
        finally:
            c.close()

    monkeypatch.setattr(connection, "CHECKPOINT_SECONDS", 0.0)
    store = Store(f"sqlite:///{db}")
    try:
        with store.write() as conn:
            conn.exec_driver_sql("CREATE TABLE acknowledged (x INTEGER)")
        assert not in_main_file("acknowledged")  # still only in the WAL
        with store.write(redoable=True) as conn:
            conn.exec_driver_sql("CREATE TABLE redone (x INTEGER)")
        assert in_main_file("acknowledged") and in_main_file("redone")
    finally:
        store.close()

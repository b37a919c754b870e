"""Crash safety: a real `renkei run` is SIGKILLed mid-run, twice, and restarted; afterwards every
message of the storage is on the built-in timeline exactly once (counted, not inferred)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from renkei.connectors.ssmix2.generator import generate

from .conftest import RENKEI

CONFIG = """
version: 1
connectors:
  ehr: {type: ssmix2, root: storage}
  timeline: {type: builtin, members: [nurse.sato]}
pipelines:
  - name: nightly
    source: ehr
    destinations: [timeline]
    gates: {consent: false}  # this test is about delivery mechanics; consent has its own tests
    trigger: {interval_seconds: 3600}
"""


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def _run_until_killed(cli, timeline_db: Path, at_least: int, total: int) -> int:
    log = cli.cwd / "run.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([RENKEI, "run", "renkei.yaml"], cwd=cli.cwd, env=cli.env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 120
        while (posts := _count(timeline_db, "SELECT count(*) FROM posts")) < at_least:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "renkei run made no progress"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert posts < total, "the run finished before it could be killed: use a larger storage"
    return posts


@pytest.mark.integration
def test_sigkill_mid_run_then_restart_delivers_each_message_exactly_once(cli, tmp_path: Path) -> None:
    written = generate(tmp_path / "storage", patients=500, labs_per_patient=4, seed=42)
    total = len(written)
    assert total >= 2000
    (tmp_path / "renkei.yaml").write_text(CONFIG, encoding="utf-8")
    timeline_db = cli.env_data / "timeline.sqlite"

    first = _run_until_killed(cli, timeline_db, total // 5, total)
    second = _run_until_killed(cli, timeline_db, min(first + total // 4, total - 1), total)
    assert first < second < total

    stats = cli.json("run", "renkei.yaml", "--once")["nightly"]
    # What was left; deliveries cut off by the kill are re-sent under their keys and the timeline dedupes.
    assert stats["sent"] >= total - second

    with closing(sqlite3.connect(timeline_db)) as conn:
        rows = conn.execute("SELECT g.patient_id FROM posts p JOIN groups g ON g.id = p.group_id").fetchall()
    posts_per_patient = Counter(patient_id for (patient_id,) in rows)
    expected = Counter(w.records[0].patient_id for w in written)
    assert posts_per_patient == expected  # none lost, none doubled, on the right patient
    keys = _count(timeline_db, "SELECT count(DISTINCT idempotency_key) FROM posts")
    assert keys == total
    assert cli.json("status")["messages"] == {"nightly": {"SENT": total}}
    assert _count(cli.env_data / "renkei.sqlite", "SELECT count(*) FROM messages") == total

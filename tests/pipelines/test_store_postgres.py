"""The store on a real PostgreSQL server (and on SQLite as the reference, through `store_url`).

The engine's own end-to-end tests (test_engine, test_delivery, test_gates, test_audit) run on both
backends through the parametrised `store_url`/`make_engine` fixtures; this file holds what is specific to
running many writers against one PostgreSQL database: concurrent check-then-write operations stay
serialised as they are on SQLite (BEGIN IMMEDIATE), and column types round-trip exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from renkei.connectors.ssmix2.generator import generate
from renkei.errors import RefusedError
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import MessageState, audit_log, source_ledger
from renkei.pipelines.store import NewDelivery, Processed, Received, Store

THREADS = 8


def _race(n: int, work: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run work(0..n-1) in n threads released together; results and exceptions, in thread order."""
    start = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # collected and asserted on by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return results, errors


@pytest.fixture
def store(new_store: Callable[[], Store]) -> Store:
    return new_store()


def test_concurrent_pushes_of_the_same_keys_store_each_once(store: Store) -> None:
    keys = [f"MSG{i:04d}" for i in range(20)]

    def push(i: int) -> list[tuple[int, bool]]:
        items = [Received(k, f"fp-{k}", f"MSH|{k}|{i}".encode(), group="mllp") for k in keys]
        return store.receive_new("push", "mllp", items)

    results, errors = _race(THREADS, push)
    assert errors == []
    assert store.counts() == {"push": {"RECEIVED": len(keys)}}
    for pos, key in enumerate(keys):
        outcomes = [r[pos] for r in results]
        stored = [mid for mid, dup in outcomes if not dup]
        assert len(stored) == 1, f"{key} stored {len(stored)} times"
        assert {mid for mid, _ in outcomes} == set(stored)  # the duplicates name the stored message
    with store.read() as conn:
        ledger = dict(conn.execute(sa.select(source_ledger.c.key, source_ledger.c.message_id)).all())
    assert ledger == {k: results[0][pos][0] for pos, k in enumerate(keys)}
    assert store.verify_audit().ok


def test_concurrent_writers_keep_one_linear_audit_chain(store: Store) -> None:
    def receive(i: int) -> list[int]:
        return store.receive_many("sync", "ehr", [Received(f"f{i}-{j}", "fp", b"x", group=f"g{i}") for j in range(5)])

    results, errors = _race(THREADS, receive)
    assert errors == []
    assert sorted(mid for ids in results for mid in ids) == list(range(1, THREADS * 5 + 1))
    result = store.verify_audit()
    # + 1: the audit.keyed marker that starts a new log's keyed chain, written once whoever writes first
    assert (result.ok, result.entries, result.keyed_from) == (True, THREADS * 5 + 1, 1)


def test_concurrent_links_of_one_identifier_to_different_people_let_one_win(store: Store) -> None:
    registry = PatientRegistry(store)

    def link(i: int) -> str:
        registry.link(f"P{i}", "tag", "CARD-0001")
        return f"P{i}"

    results, errors = _race(THREADS, link)
    winners = [r for r in results if r]
    assert len(winners) == 1 and len(errors) == THREADS - 1
    assert all(isinstance(e, RefusedError) for e in errors)
    assert registry.person_for("tag", "CARD-0001") == winners[0]


def test_concurrent_decisions_on_one_approval_let_one_win(store: Store) -> None:
    [mid] = store.receive_many("sync", "ehr", [Received("k1", "fp", b"x")])
    store.save_processed(
        [
            Processed(
                mid, "sync", MessageState.AWAITING_APPROVAL, patient_id="P1",
                deliveries=[NewDelivery("timeline", "k1:timeline", {"text": "HIV 抗体 陽性"})],
            )
        ]
    )  # fmt: skip

    def decide(i: int) -> str:
        return store.decide_approval(mid, approve=i % 2 == 0, note=f"dr{i}")

    results, errors = _race(THREADS, decide)
    decided = [r for r in results if r]
    assert len(decided) == 1 and len(errors) == THREADS - 1
    assert all(isinstance(e, KeyError) for e in errors)
    msg, dels = store.get_message(mid)
    assert msg.state == decided[0]
    assert [d.state for d in dels] == (["QUEUED"] if decided[0] == "QUEUED" else ["DEAD"])
    with store.read() as conn:
        actions = conn.execute(sa.select(audit_log.c.action).where(audit_log.c.action.like("approval.%"))).scalars()
        assert len(list(actions)) == 1


def test_values_round_trip_exactly(store: Store) -> None:
    raw = "MSH|^~\\&|山田太郎|\r".encode("iso-2022-jp") + bytes(range(256))  # every byte value, NUL included
    [mid] = store.receive_many("sync", "ehr", [Received("20240401/P1/OML-11", "fp", raw)])
    records = [{"kind": "observation", "display": "ＨｂＡ１ｃ", "value": 6.5, "nested": {"a": [1, None, True]}}]
    store.save_processed(
        [
            Processed(
                mid, "sync", MessageState.QUEUED, patient_id="P1", data_type="OML-11",
                warnings=["警告: 単位なし"], records=records,
                deliveries=[NewDelivery("timeline", f"{mid}:timeline", {"text": "【検査結果】", "n": 0.1 + 0.2})],
                patient_record={"name": "山田 太郎", "kana": "ヤマダ タロウ"},
            )
        ]
    )  # fmt: skip
    msg, [delivery] = store.get_message(mid)
    assert bytes(msg.raw) == raw
    assert (msg.records, msg.warnings) == (records, ["警告: 単位なし"])
    assert delivery.payload == {"text": "【検査結果】", "n": 0.1 + 0.2}
    assert store.patient_basics(["P1"]) == {"P1": {"name": "山田 太郎", "kana": "ヤマダ タロウ"}}
    assert msg.received_at == store.list_messages()[0].received_at  # float8, not a rounded float4
    assert store.verify_audit().ok  # the digest covers `at` to the microsecond


def test_consent_scope_is_stored_as_a_list(store: Store) -> None:
    registry = PatientRegistry(store)
    registry.set_consent("P1", True, ["timeline", "lab"], date(2024, 4, 1))
    consent = registry.consent("P1")
    assert consent is not None and consent.scope == ("lab", "timeline")
    assert consent.allows("lab") and not consent.allows("vitals")


def test_an_overlong_patient_id_is_quarantined_without_failing_its_batch(store: Store) -> None:
    """PostgreSQL enforces VARCHAR(64): one bad PID-3 must not fail (and re-fail) the whole batch."""
    ids = store.receive_many("push", "mllp", [Received(f"MSG{i}", "fp", b"MSH|") for i in range(3)])
    long_id = "1234567890" * 8
    store.save_processed(
        [
            Processed(
                mid, "push", MessageState.QUEUED, patient_id=pid, data_type="ADT^A08",
                deliveries=[NewDelivery("timeline", f"{mid}:timeline", {"patient_id": pid})],
                patient_record={"patient_id": pid},
            )
            for mid, pid in zip(ids, ["P1", long_id, "P3"], strict=True)
        ]
    )  # fmt: skip
    states = {m.id: (m.state, m.patient_id, m.reason) for m in store.list_messages()}
    assert (states[ids[0]][:2], states[ids[2]][:2]) == (("QUEUED", "P1"), ("QUEUED", "P3"))
    assert states[ids[1]] == ("QUARANTINED", "", "patient id is 80 characters long; the store keeps at most 64")
    assert [len(store.get_message(mid)[1]) for mid in ids] == [1, 0, 1]
    assert set(store.patient_basics(["P1", "P3", long_id])) == {"P1", "P3"}


def test_a_read_block_sees_one_snapshot(store: Store) -> None:
    """As a SQLite read transaction: a message and its deliveries, or two pages, never mix two moments."""
    store.receive_many("sync", "ehr", [Received("k1", "fp", b"x")])
    with store.read() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(source_ledger)).scalar()
        writer = threading.Thread(target=store.receive_many, args=("sync", "ehr", [Received("k2", "fp", b"y")]))
        writer.start()
        writer.join(timeout=30)
        assert not writer.is_alive()  # readers never block the writer
        again = conn.execute(sa.select(sa.func.count()).select_from(source_ledger)).scalar()
    assert before == again == 1
    assert store.counts() == {"sync": {"RECEIVED": 2}}


@pytest.mark.integration
def test_stores_opened_at_once_on_a_new_database_create_the_tables_once(pg_url: str) -> None:
    """PostgreSQL only: there, create_all runs under the writer lock. (SQLite's first switch to WAL can
    still fail with "database is locked" when several processes open a brand-new file at once.)"""
    opened: list[Store] = []

    def open_store(_i: int) -> None:
        opened.append(Store(pg_url))

    try:
        _, errors = _race(4, open_store)
        assert errors == []
        opened[0].receive_many("sync", "ehr", [Received("k1", "fp", b"x")])
        assert opened[-1].counts() == {"sync": {"RECEIVED": 1}}
    finally:
        for s in opened:
            s.close()


def test_an_engine_run_leaves_a_verifiable_chain_and_an_edit_is_found(tmp_path, make_engine) -> None:
    generate(tmp_path / "storage", patients=3, labs_per_patient=2, seed=2)
    engine = make_engine(tmp_path / "storage")
    stats = engine.run_pipeline(engine.pipeline("sync"))
    assert (stats.received, stats.sent) == (9, 9)
    result = engine.store.verify_audit()
    assert result.ok and result.entries >= 27  # per message: receive, process, delivery.sent
    with engine.store.write() as conn:
        first_sent = sa.select(sa.func.min(audit_log.c.seq)).where(audit_log.c.action == "delivery.sent")
        seq = conn.execute(first_sent).scalar()
        conn.execute(audit_log.update().where(audit_log.c.seq == seq).values(detail="message:1 -> elsewhere"))
    broken = engine.store.verify_audit()
    assert (broken.ok, broken.first_bad_seq) == (False, seq)


@pytest.mark.integration
def test_renkei_store_url_points_every_command_at_postgresql(pg_url: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RENKEI_STORE_URL", pg_url)
    store = Store.in_data_dir(tmp_path / "data")
    try:
        store.audit([AuditEntry("test.write", "P1", "x")])
        assert store.url == pg_url and store.verify_audit().entries == 2  # the keyed marker and the entry
    finally:
        store.close()
    env = {**os.environ, "RENKEI_DATA": str(tmp_path / "data")}
    renkei = str(Path(sys.executable).with_name("renkei"))
    out = subprocess.run([renkei, "audit", "verify", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout)["entries"] == 2  # the command read PostgreSQL, not an empty SQLite file

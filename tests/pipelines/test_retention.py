"""Retention: finished messages lose their content after the pipeline's limit, everything that proves what
happened stays, messages that may still be reprocessed are never touched, and a rescan reads nothing again."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from renkei.config.schema import PipelineConfig, RetentionSettings
from renkei.connectors.ssmix2.generator import generate
from renkei.errors import PermanentDeliveryError, RefusedError
from renkei.pipelines.retention import DAY, prune
from renkei.pipelines.schema import MessageState, audit_log, idempotency, source_ledger

from .conftest import CONFIG
from .test_delivery import FailingFor


def _synced(tmp_path: Path, make_engine, config: str = CONFIG):
    """A real sync: 3 patients x (ADT + 2 labs); one patient's first post refused for good (DEAD, which
    holds that patient's later ones), one lab file garbage (QUARANTINED), one superseded (FILTERED)."""
    root = tmp_path / "storage"
    written = generate(root, patients=3, labs_per_patient=2, seed=5)
    labs = [w.key for w in written if "/OML-11/" in w.key]
    (root / labs[-1]).write_bytes(b"%PDF-1.4\n")
    engine = make_engine(root, config)
    victim = written[0].records[0].patient_id
    engine._connectors["timeline"] = FailingFor(engine.connector("timeline"), victim, PermanentDeliveryError("x"), 1)
    engine.run_pipeline(engine.pipeline("sync"))
    engine._connectors["timeline"] = engine._connectors["timeline"].real
    other = next(k for k in labs[:-1] if victim not in k)
    shutil.copy(root / other, root / (other[:-1] + "2"))  # an SS-MIX2 update renames _1 to _2: FILTERED
    (root / other).unlink()
    engine.run_pipeline(engine.pipeline("sync"))
    return engine


def _by_state(engine) -> dict[str, list]:
    out: dict[str, list] = {}
    for m in engine.store.list_messages(limit=1000):
        out.setdefault(m.state, []).append(engine.store.get_message(m.id))
    return out


def _table_rows(engine, table) -> list[tuple]:
    with engine.store.read() as conn:
        return [tuple(r) for r in conn.execute(sa.select(table))]


def _settings(days: float | None = 30, payload: float | None = 30) -> dict[str, RetentionSettings]:
    return {"sync": RetentionSettings(raw_days=days, payload_days=payload)}


def test_prune_drops_content_of_finished_messages_and_keeps_the_rest(tmp_path: Path, make_engine) -> None:
    engine = _synced(tmp_path, make_engine)
    before = _by_state(engine)
    counts = {s: len(v) for s, v in before.items()}
    assert counts == {"SENT": 5, "DEAD": 1, "QUEUED": 2, "QUARANTINED": 1, "FILTERED": 1}
    ledger, receipts = _table_rows(engine, source_ledger), _table_rows(engine, idempotency)
    now = time.time() + 31 * DAY

    report = prune(engine.store, _settings(), now=now)

    assert (report.messages, report.raw_messages, report.payload_messages, report.deliveries) == (6, 6, 5, 5)
    assert report.raw_bytes == sum(len(m.raw) for m, _ in before["SENT"] + before["FILTERED"])
    after = _by_state(engine)
    for msg, dels in after["SENT"]:
        assert (msg.raw, msg.records, msg.pruned, msg.pruned_at) == (b"", None, "raw,records,payloads", now)
        assert [d.payload for d in dels] == [{}]
        assert dels[0].receipt and dels[0].state == "SENT"  # the proof of delivery stays
        assert msg.patient_id and msg.data_type and msg.source_key
    ((filtered, _),) = after["FILTERED"]
    assert (filtered.raw, filtered.pruned) == (b"", "raw,records")  # it had no deliveries
    for state in ("DEAD", "QUEUED", "QUARANTINED"):  # may still be reprocessed: untouched
        assert after[state] == before[state]
    assert _table_rows(engine, source_ledger) == ledger and _table_rows(engine, idempotency) == receipts
    with engine.store.read() as conn:
        entries = conn.execute(sa.select(audit_log.c.detail).where(audit_log.c.action == "retention.prune")).all()
    assert [e.detail for e in entries] == [report.summary()]
    assert "messages 6" in report.summary()
    assert engine.store.verify_audit().ok

    again = engine.run_pipeline(engine.pipeline("sync"))  # pruning never makes a file be read again
    assert (again.received, again.quarantined) == (0, 0)
    assert prune(engine.store, _settings(), now=now).messages == 0  # nothing twice, no second entry


def test_nothing_is_pruned_before_the_limit(tmp_path: Path, make_engine) -> None:
    engine = _synced(tmp_path, make_engine)
    before = _by_state(engine)
    report = prune(engine.store, _settings(), now=time.time() + 29 * DAY)
    assert report.messages == 0 and not report.vacuumed
    assert _by_state(engine) == before
    with engine.store.read() as conn:
        assert conn.execute(sa.select(audit_log).where(audit_log.c.action == "retention.prune")).first() is None


def test_raw_and_payload_limits_apply_separately_and_forever_keeps(tmp_path: Path, make_engine) -> None:
    engine = _synced(tmp_path, make_engine)
    prune(engine.store, _settings(days=10, payload=None), now=time.time() + 365 * DAY)
    for msg, dels in _by_state(engine)["SENT"]:
        assert (msg.raw, msg.pruned) == (b"", "raw,records")
        assert dels[0].payload["text"]  # payloads kept forever
    prune(engine.store, _settings(days=None, payload=None), older_than_days=0)  # an operator's `--older-than 0`
    for msg, dels in _by_state(engine)["SENT"]:
        assert msg.pruned == "raw,records,payloads" and dels[0].payload == {}


def test_keep_forever_prunes_nothing(tmp_path: Path, make_engine) -> None:
    engine = _synced(tmp_path, make_engine)
    assert prune(engine.store, _settings(days=None, payload=None), now=time.time() + 9999 * DAY).messages == 0


def test_dry_run_counts_the_same_and_changes_nothing(tmp_path: Path, make_engine) -> None:
    engine = _synced(tmp_path, make_engine)
    before = _by_state(engine)
    now = time.time() + 31 * DAY
    dry = prune(engine.store, _settings(), now=now, dry_run=True)
    assert _by_state(engine) == before
    real = prune(engine.store, _settings(), now=now)
    assert (dry.messages, dry.raw_bytes, dry.deliveries) == (real.messages, real.raw_bytes, real.deliveries)
    assert (real.messages, real.deliveries) == (6, 5) and real.raw_bytes > 1000


def test_reprocess_of_a_pruned_message_is_refused_with_the_reason(tmp_path: Path, make_engine) -> None:
    engine = _synced(tmp_path, make_engine)
    prune(engine.store, _settings(), older_than_days=0)
    sent = engine.store.list_messages(state=MessageState.SENT)[0]
    with pytest.raises(RefusedError, match=r"raw, records, payloads pruned on \d{4}-\d\d-\d\dT.* \(retention\)"):
        engine.reprocess([sent.id])
    assert engine.store.get_message(sent.id)[0].state == MessageState.SENT


def test_vacuum_shrinks_the_sqlite_file(tmp_path: Path, make_engine, store_url: str) -> None:
    if not store_url.startswith("sqlite"):
        pytest.skip("VACUUM is SQLite's: PostgreSQL reuses the space after autovacuum")
    engine = _synced(tmp_path, make_engine)
    report = prune(engine.store, _settings(), older_than_days=0)
    assert report.vacuumed and report.file_bytes_after < report.file_bytes_before
    assert Path(store_url.removeprefix("sqlite:///")).with_suffix(".sqlite-wal").stat().st_size == 0


def test_retention_setting_defaults_and_keep_forever() -> None:
    p = PipelineConfig(name="sync", source="ehr", destinations=["timeline"])
    assert (p.retention.raw_days, p.retention.payload_days) == (30, 30)
    p = PipelineConfig(name="sync", source="ehr", destinations=["t"], retention={"raw_days": None, "payload_days": 90})
    assert (p.retention.raw_days, p.retention.payload_days) == (None, 90)
    with pytest.raises(ValueError, match="raw_days"):
        PipelineConfig(name="sync", source="ehr", destinations=["t"], retention={"raw_days": -1})


def test_a_message_changed_since_planning_is_left_alone(tmp_path: Path, make_engine) -> None:
    """The write re-checks under the lock: a message reprocessed (or failed) after the plan keeps its content."""
    from renkei.pipelines.retention import _apply

    engine = _synced(tmp_path, make_engine)
    ((dead, _),) = _by_state(engine)["DEAD"]
    (sent, _), *_ = _by_state(engine)["SENT"]
    plan = {dead.id: {"raw", "records", "payloads"}, sent.id: {"raw", "records", "payloads"}}
    done = _apply(engine.store, plan, {dead.id: "", sent.id: ""}, time.time())
    assert list(done) == [sent.id]
    assert engine.store.get_message(dead.id)[0].raw == dead.raw and engine.store.get_message(dead.id)[1][0].payload

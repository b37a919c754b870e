"""The engine end to end on a real SS-MIX2 storage, store and built-in timeline."""

from __future__ import annotations

import shutil
from pathlib import Path

from renkei.connectors.ssmix2.generator import generate
from renkei.pipelines.schema import MessageState


def _posts(engine, patient_id: str) -> list[dict]:
    tl = engine.connector("timeline")
    return tl.read(tl.group_for_patient(patient_id))


def test_sync_posts_every_message_once_and_rescan_reads_nothing_new(tmp_path: Path, make_engine) -> None:
    written = generate(tmp_path / "storage", patients=5, labs_per_patient=2, seed=1)
    engine = make_engine(tmp_path / "storage")
    stats = engine.run_pipeline(engine.pipeline("sync"))
    assert (stats.received, stats.queued, stats.sent, stats.quarantined) == (15, 15, 15, 0)
    patients = {w.records[0].patient_id for w in written}
    for pid in patients:
        posts = _posts(engine, pid)
        assert len(posts) == 3  # ADT-00 + two lab results
        assert posts[0]["text"].startswith("【患者基本情報】")
        assert all(p["text"].startswith("【検査結果】") for p in posts[1:])
    again = engine.run_pipeline(engine.pipeline("sync"))
    assert (again.received, again.unchanged, again.sent) == (0, 15, 0)
    assert engine.store.counts() == {"sync": {"SENT": 15}}


def test_lab_summary_shows_values_units_ranges_and_flags(tmp_path: Path, make_engine) -> None:
    written = generate(tmp_path / "storage", patients=1, labs_per_patient=1, seed=7)
    engine = make_engine(tmp_path / "storage")
    engine.run_pipeline(engine.pipeline("sync"))
    lab = next(w for w in written if "OML-11" in w.key)
    text = _posts(engine, lab.records[0].patient_id)[1]["text"]
    for obs in lab.records:
        line = next(ln for ln in text.splitlines() if ln.startswith(f"・{obs.code.display}"))
        assert f"{obs.value} {obs.unit}" in line
        assert f"（基準 {obs.reference_range}）" in line
        assert (f"[{obs.abnormal_flag}]" in line) == (obs.abnormal_flag not in ("", "N"))


def test_changed_file_is_read_again_and_renamed_superseded_file_is_not_posted(tmp_path: Path, make_engine) -> None:
    root = tmp_path / "storage"
    written = generate(root, patients=1, labs_per_patient=1, seed=3)
    engine = make_engine(root)
    engine.run_pipeline(engine.pipeline("sync"))
    lab = root / next(w.key for w in written if "OML-11" in w.key)
    # An SS-MIX2 update: the old _1 is renamed _2 (same content, same facts) ...
    superseded = lab.with_name(lab.name[:-1] + "2")
    shutil.copy(lab, superseded)
    lab.unlink()
    stats = engine.run_pipeline(engine.pipeline("sync"))
    assert (stats.received, stats.filtered, stats.sent) == (1, 1, 0)
    msg = engine.store.list_messages(state=MessageState.FILTERED)[0]
    assert "superseded" in msg.reason
    assert len(_posts(engine, written[0].records[0].patient_id)) == 2

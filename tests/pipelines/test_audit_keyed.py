"""The keyed chain and its anchors: truncation (newest entries, all entries) and a chain recomputed
without the key are detected; a data folder written before keys existed still verifies.

Anchors and the key live outside the data folder (tests/conftest.py points both at a tmp folder)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from renkei.pipelines import audit
from renkei.pipelines.audit import GENESIS, AuditEntry, parse_anchor
from renkei.pipelines.audit_anchors import (
    AnchorFileError,
    anchor_folder,
    anchor_if_due,
    load_anchors,
    write_anchor,
)
from renkei.pipelines.schema import audit_log
from renkei.pipelines.store import Store


def _entries(n: int, start: int = 0) -> list[AuditEntry]:
    return [
        AuditEntry("timeline.read", f"P{i}", f"timeline-group:{i}", "", actor="nurse.sato")
        for i in range(start, start + n)
    ]


def _anchored_store(new_store, n: int = 5) -> Store:
    store = new_store()
    store.audit(_entries(n))
    with store.read() as conn:
        write_anchor(conn, store.url)
    return store


def _verify(store: Store) -> audit.VerifyResult:
    with store.read() as conn:
        return audit.verify(conn, anchors=load_anchors(store.url))


def _recompute_plain(store: Store, drop_marker: bool) -> None:
    """What an intruder with write access to the database but not the key can do: rewrite the chain
    with plain SHA-256 (optionally without the keyed marker, renumbering every entry)."""
    with store.write() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).all()
        conn.execute(audit_log.delete())
        prev, seq, out = GENESIS, 0, []
        for r in rows:
            if drop_marker and r.action == audit.KEYED_ACTION:
                continue
            seq += 1
            patient = "P-other" if r.patient_id == "P2" else r.patient_id  # the edit being hidden
            h = audit._digest(prev, seq, r.at, r.actor, r.action, patient, r.object, r.detail)
            out.append({**r._asdict(), "seq": seq, "patient_id": patient, "prev_hash": prev, "hash": h})
            prev = h
        conn.execute(audit_log.insert(), out)


def test_a_new_log_is_keyed_from_its_first_entry_and_the_key_is_outside_the_data_folder(new_store) -> None:
    store = new_store()
    store.audit(_entries(3))
    result = store.verify_audit()
    assert (result.ok, result.entries, result.keyed_from) == (True, 4, 1)
    assert audit.key_path() == Path(os.environ["RENKEI_AUDIT_KEY_FILE"])
    assert audit.key_path().stat().st_mode & 0o077 == 0  # only the owner can read it
    assert len(bytes.fromhex(audit.key_path().read_text().strip())) == 32


def test_cutting_off_the_newest_entries_is_detected(new_store) -> None:
    store = _anchored_store(new_store)
    store.audit(_entries(2, start=10))  # entries after the anchor are fine
    assert _verify(store).ok
    with store.write() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq >= 5))
    assert store.verify_audit().ok  # the chain alone cannot tell
    result = _verify(store)
    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert result.reason.startswith("the log ends at entry 4 (4 entries) but ")
    assert "recorded entry 6 (6 entries): the newest entries were removed" in result.reason


def test_deleting_every_entry_is_detected(new_store) -> None:
    store = _anchored_store(new_store)
    with store.write() as conn:
        conn.execute(audit_log.delete())
    assert store.verify_audit().entries == 0  # "intact: 0 entries" without the anchors
    result = _verify(store)
    assert (result.ok, result.entries, result.first_bad_seq) == (False, 0, 6)
    assert "the log ends at entry 0 (0 entries)" in result.reason


def test_an_edit_recomputed_without_the_key_is_detected(new_store) -> None:
    store = _anchored_store(new_store)
    _recompute_plain(store, drop_marker=False)
    result = store.verify_audit()  # no anchor needed: the entries after the marker are not keyed
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert "altered, or keyed with another key" in result.reason


def test_a_chain_recomputed_plain_without_its_marker_is_detected_by_the_anchors(new_store) -> None:
    store = _anchored_store(new_store)
    _recompute_plain(store, drop_marker=True)
    result = _verify(store)
    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert result.reason.startswith("the log ends at entry 5 (5 entries) but ")
    # recomputed with as many entries as before (one forged entry in the marker's place): the head differs
    _recompute_plain(store, drop_marker=True)
    store.audit(_entries(1))  # the next append starts a new keyed part, at entry 6
    result = _verify(store)
    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert "differs from the anchor" in result.reason


def test_a_plain_log_from_before_keys_still_verifies_and_turns_keyed(new_store) -> None:
    store = new_store()
    with store.write() as conn:  # a data folder written by an earlier renkei: plain SHA-256
        prev, rows = GENESIS, []
        for seq in range(1, 4):
            h = audit._digest(prev, seq, 1000.0 + seq, "nurse", "timeline.read", f"P{seq}", "timeline:1", "")
            row = {"seq": seq, "at": 1000.0 + seq, "actor": "nurse", "action": "timeline.read"}
            rows.append(
                {**row, "patient_id": f"P{seq}", "object": "timeline:1", "detail": "", "prev_hash": prev, "hash": h}
            )
            prev = h
        conn.execute(audit_log.insert(), rows)
    assert (store.verify_audit().ok, store.verify_audit().keyed_from) == (True, 0)
    store.audit(_entries(2))
    result = store.verify_audit()
    assert (result.ok, result.entries, result.keyed_from) == (True, 6, 4)  # marker at 4, then 2 keyed entries
    with store.read() as conn:
        assert conn.execute(sa.select(audit_log.c.action).where(audit_log.c.seq == 4)).scalar_one() == "audit.keyed"
        assert conn.execute(sa.select(audit_log.c.seq).where(audit_log.c.action == "audit.keyed")).scalars().all() == [
            4
        ]
    store.audit(_entries(1))  # continuing the keyed chain adds no second marker
    assert store.verify_audit().entries == 7


def test_keyed_entries_without_the_key_are_reported_not_passed(new_store, monkeypatch, tmp_path: Path) -> None:
    store = new_store()
    store.audit(_entries(2))
    monkeypatch.setenv("RENKEI_AUDIT_KEY_FILE", str(tmp_path / "elsewhere.key"))
    result = store.verify_audit()
    assert result.ok is False and "no audit key at" in result.reason and "elsewhere.key" in result.reason


def test_anchors_are_daily_signed_files_and_a_forged_line_is_refused(new_store) -> None:
    store = new_store()
    store.audit(_entries(2))
    with store.read() as conn:
        first = anchor_if_due(conn, store.url)
        assert first is not None and anchor_if_due(conn, store.url) is None  # once a day
    assert first.path.parent == anchor_folder(store.url)
    assert str(first.path).startswith(os.environ["RENKEI_AUDIT_ANCHOR_DIR"])
    line = json.loads(first.path.read_text().splitlines()[0])
    assert (line["seq"], line["entries"], line["keyed_from"]) == (3, 3, 1)
    assert [a.seq for a in load_anchors(store.url)] == [3]
    forged = {**line, "seq": 1, "hash": hashlib.sha256(b"x").hexdigest()}
    with open(first.path, "a") as f:
        f.write(json.dumps(forged) + "\n")
    with pytest.raises(AnchorFileError, match=r"\.jsonl:2 is not signed by the audit key"):
        load_anchors(store.url)


@pytest.mark.parametrize("text", ["garbage", "12", "x:" + "0" * 64, "3:abc", "0:" + "0" * 64, "3:" + "g" * 64])
def test_a_malformed_anchor_is_bad_input(text: str) -> None:
    with pytest.raises(ValueError, match="SEQ:HASH"):
        parse_anchor(text)


def test_a_key_that_cannot_be_created_fails_closed_with_the_variable_to_set(new_store, monkeypatch, tmp_path) -> None:
    from renkei.errors import ConfigError

    store = new_store()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("RENKEI_AUDIT_KEY_FILE", str(blocker / "audit.key"))
    with pytest.raises(ConfigError, match=r"audit key .* cannot be read or created .*RENKEI_AUDIT_KEY_FILE"):
        store.audit(_entries(1))
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one() == 0

"""Refusals that must reach the nurse and never the device's "stored", against the real `renkei run` service
over nfcpy's `udp` driver (see ward_support): a patient whose consent does not cover the pipeline's scope or
who has no timeline link is refused at the wristband, before any reading is taken; a reading whose commit
fails (the store's write lock held by another process for longer than the service's SQLite busy timeout) is
never confirmed to the device, nothing reaches the timeline, and the device's kept memory is stored once
when the nurse taps it again.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from ward_support import BADGE, BAND1, BAND2, BAND_NO_CONSENT, Ward, cli, codes, now_on_device, tag

from renkei.config.loader import load_config
from renkei.devices.simulators.agents import Measurement
from renkei.pipelines.connector_services import NO_TIMELINE, OUT_OF_SCOPE
from renkei.pipelines.engine import Engine
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.store import Store
from renkei.pipelines.store.connection import DB_FILE

CANNOT_RECEIVE = "この患者には送信できません。測定しないでください / This patient cannot receive posts: do not measure"
BUSY_TIMEOUT = 60.0  # renkei/db.py: PRAGMA busy_timeout=60000, the service's wait for SQLite's write lock


@pytest.fixture
def ward(tmp_path: Path):  # type: ignore[no-untyped-def]
    w = Ward(tmp_path, gates="{consent_scope: vitals, auto_link: false}")
    try:
        yield w
    finally:
        w.stop()


def _group(ward: Ward, patient: str) -> str:
    """The patient's group on the built-in timeline, made as an operator would when groups are not automatic."""
    engine = Engine(load_config(ward.config), Store.in_data_dir(ward.data), ward.data)
    try:
        return engine.connector("timeline").ensure_group(patient)
    finally:
        engine.close()
        engine.store.close()


def _bp(systolic: int, diastolic: int) -> list[Measurement]:
    """A monitor's memory: one cuff cycle taken now."""
    return [Measurement({"bp": (systolic, diastolic, diastolic + 13), "pulse": 70}, now_on_device())]


@pytest.mark.integration
def test_consent_out_of_scope_and_no_timeline_link_are_refused_at_the_wristband(ward: Ward) -> None:
    # the pipeline takes `vitals` only and makes no timeline groups; P001: consent "all" (the ward's) and a
    # linked group; P002: a newer consent for `lab` only; P009: consent for what a bedside post carries, on the
    # timeline, but no group linked
    store = Store.in_data_dir(ward.data)
    registry = PatientRegistry(store)
    registry.set_consent("P002", True, ["lab"], date(2026, 4, 2))
    registry.set_consent("P009", True, ["vitals", "notes", "timeline"], date(2026, 4, 2))
    registry.link("P001", "timeline:timeline", _group(ward, "P001"))
    store.close()

    # 1. consent out of scope: refused at the wristband with that reason; the device is turned away
    ward.tap(tag(BADGE), tag(BAND2), ward.device(_bp(141, 91)))
    ev = ward.wait_events(3)
    assert codes(ev) == ["badge-accepted", "patient-cannot-receive", "wristband-first"], codes(ev)
    assert ev[1]["reasons"] == [OUT_OF_SCOPE] == ["同意の範囲外です / Consent does not cover this"]
    assert (ev[1]["patient"]["id"], ev[1]["patient"]["name_kanji"], ev[1]["signal"]) == ("P002", "佐藤 花", "refusal")
    assert ev[1]["message"]["ja"] + " / " + ev[1]["message"]["en"] == CANNOT_RECEIVE
    assert ward.scripts[-1].sent == ["AARQ"] and not ev[2]["device_told_stored"]  # it keeps its memory

    # 2. no timeline link: refused at the wristband, and the current patient (P001) is ended: the reading
    # that follows goes to nobody
    kept = _bp(142, 92)
    ward.tap(tag(BAND1), tag(BAND_NO_CONSENT), ward.device(kept))
    ev = ward.wait_events(6)[3:]
    assert codes(ev) == ["wristband-accepted", "patient-cannot-receive", "wristband-first"], codes(ev)
    assert ev[1]["reasons"] == [NO_TIMELINE] == ["タイムラインが紐付けられていません / No timeline is linked"]
    assert (ev[1]["patient"]["id"], ev[1]["signal"]) == ("P009", "refusal")
    assert ward.scripts[-1].sent == ["AARQ"] and not ev[2]["device_told_stored"]

    # 3. the same ward does pass a patient who can receive: P001's reading is stored and posted
    ward.tap(tag(BAND1), ward.device(_bp(143, 93)), again=BAND1)
    ev = ward.wait_events(8)[6:]
    assert codes(ev) == ["wristband-accepted", "reading-stored"], codes(ev)
    assert ev[1]["signal"] == "success" and ev[1]["device_told_stored"]
    posts = ward.posts("P001", 1)
    assert sum("血圧 143/93 mmHg" in p for p in posts) == 1, posts
    assert not any(v in p for p in posts for v in ("141/91", "142/92")), posts

    # 4. once P009's group is linked (`renkei patients link --timeline`), the memory the device kept arrives, once
    linked = cli("patients", "link", "P009", "--timeline", f"timeline:{_group(ward, 'P009')}",
                 "--config", str(ward.config), data=ward.data)  # fmt: skip
    assert linked.returncode == 0, linked.stderr
    ward.tap(tag(BAND_NO_CONSENT), ward.device(kept), again=BAND_NO_CONSENT)
    ev = ward.wait_events(10)[8:]
    assert codes(ev) == ["patient-switched", "reading-stored"], codes(ev)  # from P001, whose session this was
    assert ev[0]["patient"]["id"] == "P009" and ev[1]["device_told_stored"]
    assert sum("血圧 142/92 mmHg" in p for p in ward.posts("P009", 1)) == 1

    # 5. P002's consent now covers the pipeline's scope (`vitals`) but not the destination's purpose
    # (`timeline`): the delivery gate would refuse it, so the wristband is refused, before any reading
    store = Store.in_data_dir(ward.data)
    PatientRegistry(store).set_consent("P002", True, ["vitals"], date(2026, 4, 3))
    store.close()
    ward.tap(tag(BAND2), ward.device(_bp(145, 95)))
    ev = ward.wait_events(12)[10:]
    assert codes(ev) == ["patient-cannot-receive", "wristband-first"], codes(ev)
    assert ev[0]["reasons"] == [OUT_OF_SCOPE] and ev[0]["patient"]["id"] == "P002"
    assert ward.scripts[-1].sent == ["AARQ"] and not ev[1]["device_told_stored"]
    # P002 never got anything: the refused memories were never stored for anyone
    assert not ward.posts("P002", seconds=2)
    assert [m["record"]["patient_id"] for m in ward.stored()] == ["P001", "P009"]


@pytest.mark.integration
def test_a_reading_whose_commit_fails_is_never_confirmed_and_is_stored_once_when_tapped_again(ward: Ward) -> None:
    store = Store.in_data_dir(ward.data)
    PatientRegistry(store).link("P001", "timeline:timeline", _group(ward, "P001"))
    store.close()
    memory = [Measurement({"bp": (144, 94, 107), "pulse": 71}, now_on_device())]
    ward.tap(tag(BADGE), tag(BAND1))
    assert codes(ward.wait_events(2)) == ["badge-accepted", "wristband-accepted"]

    # another process holds the store's write lock (an operator's sqlite3 session, a backup) for longer than
    # the service waits for it: the service's commit of the reading fails
    locker = sqlite3.connect(ward.data / DB_FILE, isolation_level=None, timeout=30)
    locker.execute("BEGIN IMMEDIATE")
    try:
        ward.present([ward.device(memory)])
        # the service waits for the lock as long as its SQLite busy timeout, then its commit fails
        ev = ward.wait_events(3, seconds=BUSY_TIMEOUT + 30)[2:]
    finally:
        locker.rollback()
        locker.close()
    assert codes(ev) == ["store-failed"], codes(ward.all_events())
    (failed,) = ev
    assert (failed["signal"], failed["device_told_stored"], failed["ok"]) == ("refusal", False, False), failed
    assert failed["message"] == {
        "ja": "保存できませんでした。機器の記録は残っています。もう一度タッチしてください",
        "en": "The reading could not be stored: the device keeps it; tap again",
    }
    assert failed["reasons"] == ["データベースに保存できませんでした（OperationalError）/ The store could not commit "
                                 "(OperationalError)"]  # fmt: skip
    assert (failed["patient"]["id"], failed["nurse_id"], failed["values"], failed["stored"]) == (
        "P001", "nurse.sato", [], 0,
    )  # fmt: skip
    # the device was never told "stored": its report went unconfirmed (no release), its memory is kept (the
    # reader's abort reaches it only if it is still on the reader; otherwise the agent times out on its own)
    assert ward.scripts[-1].sent[0] == "AARQ" and "RLRQ" not in ward.scripts[-1].sent, ward.scripts[-1].sent
    assert not ward.stored() and not ward.posts("P001", seconds=2)

    # the lock released, the nurse taps the wristband and the device again: its kept memory is stored, once
    ward.tap(tag(BAND1), ward.device(memory), again=BAND1)
    ev = ward.wait_events(5)[3:]
    assert codes(ev) == ["wristband-accepted", "reading-stored"], codes(ward.all_events())
    assert ev[1]["device_told_stored"] and ev[1]["signal"] == "success"
    assert ward.scripts[-1].sent[-1] == "RLRQ"
    posts = ward.posts("P001", 1)
    assert sum("血圧 144/94 mmHg" in p for p in posts) == 1, posts
    assert [m["record"]["patient_id"] for m in ward.stored()] == ["P001"]

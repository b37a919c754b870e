"""The bedside rules (docs/bedside.md) against the real `renkei run` service, tags emulated over nfcpy's `udp` driver.

`renkei run` (a subprocess: the bedside connector's NFC reader, the engine, the event worker, the built-in
timeline) polls `udp:127.0.0.1:PORT`; this test taps badges, wristbands and IEEE 11073 PHDC devices on
that port (devices/simulators) and then reads what the nurse and the device were told (the published tap
events in `tap-events.jsonl`, the agent's own exchange) and what the timeline shows. One service run
serves every rule, in sequences that start with a badge tap; nothing of renkei's is mocked.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from ward_support import (
    BADGE,
    BADGE_LOST,
    BAND1,
    BAND2,
    BAND_NO_CONSENT,
    BAND_UNKNOWN,
    Ward,
    cli,
    codes,
    now_on_device,
    tag,
)

from renkei.devices.simulators.agents import KINDS, Measurement
from renkei.devices.simulators.tags import IdentityTag


@pytest.fixture
def ward(tmp_path: Path):  # type: ignore[no-untyped-def]
    w = Ward(tmp_path)
    try:
        yield w
    finally:
        w.stop()


@pytest.mark.integration
def test_bedside_rules_over_renkei_run_and_nfcpy_udp(ward: Ward) -> None:
    now = now_on_device()
    # 1. wrong patient: badge -> P001 -> an unregistered wristband (refused) -> monitor: nobody gets it
    first = ward.device([Measurement({"bp": (121, 81, 94), "pulse": 70}, now)])
    ward.tap(tag(BADGE), tag(BAND1), tag(BAND_UNKNOWN), first)
    ev = ward.wait_events(4)
    assert codes(ev) == ["badge-accepted", "wristband-accepted", "unknown-patient", "wristband-first"], codes(ev)
    assert [e["signal"] for e in ev] == ["success", "success", "refusal", "refusal"]
    assert ev[2]["message"] == {
        "ja": "登録されていない患者リストバンドです。患者の選択を解除しました",
        "en": "This wristband is not registered to a patient: no patient is selected now",
    }
    assert ward.scripts[-1].sent == ["AARQ"]  # the device was turned away: it keeps its memory, nothing confirmed
    assert ev[1]["patient"] == {"id": "P001", "name_kanji": "山田 太郎", "name_kana": "ヤマダ タロウ"}  # who it is
    assert ev[1]["message"]["ja"] == "患者を確認しました。機器をタッチしてください"

    # 2. no consent: refused at the wristband with the reason, before any reading is taken
    ward.tap(IdentityTag(bytes.fromhex(BADGE)), IdentityTag(bytes.fromhex(BAND_NO_CONSENT)),
             ward.device([Measurement({"bp": (122, 82, 95), "pulse": 70}, now)]))  # fmt: skip
    ev = ward.wait_events(7)[4:]
    assert codes(ev) == ["badge-accepted", "patient-cannot-receive", "wristband-first"], codes(ev)
    assert ev[1]["reasons"] == ["同意が記録されていません / No consent on record"] and ev[1]["signal"] == "refusal"
    assert ev[1]["patient"]["id"] == "P009" and ward.scripts[-1].sent == ["AARQ"]  # never told "stored"

    # 3. switch announced; stored memory posted as historical with its own time; the post names the nurse
    old = now - timedelta(days=3)
    ward.tap(tag(BADGE), tag(BAND1), tag(BAND2))
    memory = ward.device([Measurement({"bp": (123, 83, 96), "pulse": 71}, old),
                          Measurement({"bp": (124, 84, 97), "pulse": 72}, now)])  # fmt: skip
    ward.tap(tag(BAND2), memory, again=BAND2)  # the nurse taps the wristband again before the device
    ev = ward.wait_events(13)[7:]
    assert codes(ev) == ["badge-accepted", "wristband-accepted", "patient-switched", "wristband-accepted",
                          "reading-stored", "reading-stored"], codes(ev)  # fmt: skip
    ev = ev[:3] + ev[4:]
    assert ev[2]["message"]["en"] == "Patient switched: readings now go to this patient"
    assert ev[4]["patient"]["id"] == "P002" and ev[4]["nurse_id"] == "nurse.sato"
    assert ev[4]["values"][0]["value"] == "124" and ev[4]["values"][0]["unit"] == "mmHg"
    posts = ward.posts("P002", 2)
    assert len(posts) == 2, posts
    historical = next(p for p in posts if "血圧 123/83 mmHg" in p)
    assert f"過去の測定値です（測定時刻 {old:%m/%d %H:%M}）" in historical and "時計" not in historical
    current = next(p for p in posts if "血圧 124/84 mmHg" in p)
    assert "測定: nurse.sato" in current and "⚠" not in current
    assert not ward.posts("P001", seconds=0)  # P001 never received anything: not the first, not the switch

    # 4. held and refused readings: never posted, the device is told stored (kept), the nurse told why
    held = ward.device([Measurement({"bp": (300, 310, 305), "pulse": 70}, now + timedelta(seconds=1))])
    ward.tap(tag(BAND2), held, again=BAND2)
    invalid = ward.device([Measurement({"bp": ("NaN", 85, 98), "pulse": 70}, now + timedelta(seconds=2))])
    ward.tap(tag(BAND2), invalid, again=BAND2)
    ev = ward.wait_events(17)[13:]
    assert codes(ev) == ["wristband-accepted", "reading-held", "wristband-accepted", "reading-invalid"], codes(ev)
    ev = [ev[1], ev[3]]
    assert [e["signal"] for e in ev] == ["attention", "refusal"]
    assert any(r.startswith("拡張期血圧が収縮期血圧以上です") for r in ev[0]["reasons"])
    assert ev[1]["reasons"][0].startswith("収縮期血圧は有効な測定値ではありません") and ev[1]["values"] == []
    assert all(e["device_told_stored"] for e in ev) and ward.scripts[-1].sent[-1] == "RLRQ"

    # 5. a future-dated record at the head of the memory is held; the newer one behind it is posted
    ward.tap(tag(BAND2), ward.device([Measurement({"bp": (126, 86, 99), "pulse": 70}, now + timedelta(hours=2)),
                          Measurement({"bp": (127, 87, 100), "pulse": 70}, now + timedelta(seconds=3))]),
             again=BAND2)  # fmt: skip
    ev = ward.wait_events(20)[17:]
    assert codes(ev) == ["wristband-accepted", "reading-held", "reading-stored"], codes(ev)
    posts = ward.posts("P002", 3)
    assert sum("血圧 127/87 mmHg" in p for p in posts) == 1
    assert not any(v in p for p in posts for v in ("126/86", "300/310", "/85", "NaN"))

    # 6. a revoked badge is refused from then on; an unknown device is held for registration
    assert cli("badges", "revoke", BADGE_LOST, data=ward.data).returncode == 0
    thermometer = ward.device([Measurement({"temperature": "36.6"}, now)], "thermometer")
    ward.tap(tag(BADGE_LOST), tag(BADGE), tag(BAND1), thermometer)
    ev = ward.wait_events(24)[20:]
    assert codes(ev) == ["badge-revoked", "badge-accepted", "wristband-accepted", "device-pending"], codes(ev)
    pending = json.loads(cli("devices", "pending", "--json", data=ward.data).stdout)
    assert [d["device_id"] for d in pending] == [KINDS["thermometer"].system_id.hex().upper()]
    assert not ward.posts("P001", seconds=0)

    # 7. once registered (`renkei devices register`) the same device's reading flows; a retired one is refused
    thermo_id = KINDS["thermometer"].system_id.hex().upper()
    registered = cli("devices", "register", thermo_id, "--model", "TH-1", "--specialization", "thermometer",
                     data=ward.data)  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    ward.tap(tag(BAND1), ward.device([Measurement({"temperature": "36.6"}, now)], "thermometer"), again=BAND1)
    ev = ward.wait_events(26)[24:]
    assert codes(ev) == ["wristband-accepted", "reading-stored"], codes(ev)
    assert [p for p in ward.posts("P001", 1) if "体温 36.6 ℃" in p], ward.posts("P001", seconds=0)
    assert cli("devices", "retire", KINDS["bp-status"].system_id.hex().upper(), data=ward.data).returncode == 0
    retired = ward.device([Measurement({"bp": (128, 84, 99), "pulse": 70}, now)], "bp-status")
    ward.tap(tag(BAND1), retired)
    ev = ward.wait_events(28)[26:]
    assert codes(ev) == ["wristband-accepted", "device-retired"], codes(ev)
    assert ev[1]["message"]["ja"] == "この機器は使用停止です" and ev[1]["signal"] == "refusal"
    assert ward.scripts[-1].sent == ["AARQ"] and not ev[1]["device_told_stored"]  # it keeps its memory
    assert not [p for p in ward.posts("P001", seconds=2) if "128/84" in p]

    # 8. consent withdrawn while the service runs: refused at the wristband, with that reason, from then on
    withdrawn = cli("patients", "consent", "P002", "--withdraw", "--date", "2026-05-01", data=ward.data)
    assert withdrawn.returncode == 0, withdrawn.stderr
    ward.tap(tag(BAND2), ward.device([Measurement({"bp": (129, 85, 100), "pulse": 70}, now)]))
    ev = ward.wait_events(30)[28:]
    assert codes(ev) == ["patient-cannot-receive", "wristband-first"], codes(ev)
    assert ev[0]["reasons"] == ["同意が撤回されています / Consent was withdrawn"] and ev[0]["patient"]["id"] == "P002"
    assert ward.scripts[-1].sent == ["AARQ"] and not any("129/85" in p for p in ward.posts("P002", seconds=2))
    # the log names codes and ids, never the patients
    log = (ward.tmp / "run.log").read_text(encoding="utf-8")
    assert "patient-switched" in log and not any(p in log for p in ("P001", "P002", "P009", "124/84"))

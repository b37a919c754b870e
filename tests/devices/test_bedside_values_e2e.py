"""Values, status bits and the device's clock against the real `renkei run` service over nfcpy's `udp` driver.

The simulated monitors speak IEEE 11073 over PHDC: `bp-kpa` reports in kPa with a Measurement-Status in
each report, `bp-status` in mmHg with a Measurement-Status, `bp` answers the reader's GET of its MDS with a
clock we skew. Each test asserts what the timeline shows, what the nurse was told (the published tap
event) and what the device was told (its agent's exchange), and what the store kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from ward_support import BADGE, BAND1, BAND2, TOKYO, Ward, cli, codes, now_on_device, tag

from renkei.devices.simulators.agents import Measurement
from renkei.devices.tap_rules import REASONS

INVALID, QUESTIONABLE = 0x8000, 0x4000


@pytest.fixture(scope="module")
def ward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ward]:
    w = Ward(tmp_path_factory.mktemp("ward"))
    try:
        yield w
    finally:
        w.stop()


def _taps(ward: Ward, band: str, device: Any, n: int = 2) -> list[dict[str, Any]]:
    """badge, then wristband + device (tapped again, with the wristband, if the udp link broke off)."""
    before = len(ward.events())
    ward.tap(tag(BADGE))
    ward.tap(tag(band), device, again=band)
    ev = ward.wait_events(before + 1 + n)[before:]
    assert codes(ev)[:2] == ["badge-accepted", "wristband-accepted"], codes(ev)
    return ev[2:]


def _records(ward: Ward, systolic_text: str) -> list[dict[str, Any]]:
    """Stored tap records whose systolic value text (as the device sent it, or "") matches."""
    out = []
    for m in ward.stored():
        sys_ = [o for o in m["record"]["observations"] if o["code"]["code"] == "18949"]
        if sys_ and sys_[0]["value"] == systolic_text:
            out.append(m)
    return out


@pytest.mark.integration
def test_a_kpa_monitor_is_posted_in_mmhg_with_the_original_in_brackets(ward: Ward) -> None:
    device = ward.device([Measurement({"bp": ("16.0", "10.7", "12.3"), "pulse": 72}, now_on_device())], "bp-kpa")
    (ev,) = _taps(ward, BAND1, device, 1)
    assert (ev["code"], ev["signal"], ev["patient"]["id"]) == ("reading-stored", "success", "P001")
    shown = {v["code"]: (v["value"], v["unit"], v["original"]) for v in ev["values"]}
    assert shown == {
        "18949": ("120", "mmHg", "16.0 kPa"), "18950": ("80", "mmHg", "10.7 kPa"),
        "18951": ("92", "mmHg", "12.3 kPa"), "18474": ("72", "/min", ""),
    }  # fmt: skip
    # the device was told "stored" only after the store committed: every report confirmed, then released
    assert ev["device_told_stored"] and ward.scripts[-1].sent[-1] == "RLRQ"
    assert "config" in ward.scripts[-1].sent  # its kPa configuration (extended 0x4002) was learnt first
    posts = [p for p in ward.posts("P001", 1) if "kPa" in p]
    assert len(posts) == 1 and "血圧 120/80 mmHg（16.0/10.7 kPa）" in posts[0], posts
    assert "16.0/10.7 mmHg" not in posts[0] and "測定: nurse.sato" in posts[0]


@pytest.mark.integration
def test_an_invalid_or_questionable_status_never_becomes_a_value(ward: Ward) -> None:
    invalid = ward.device([Measurement({"bp": (131, 85, 100), "pulse": 73}, now_on_device(), {"bp": INVALID})],
                          "bp-status")  # fmt: skip
    (ev,) = _taps(ward, BAND1, invalid, 1)
    assert (ev["code"], ev["signal"], ev["values"]) == ("reading-invalid", "refusal", [])
    assert ev["message"]["ja"] == "有効な測定値ではありません。投稿しません"
    assert ev["reasons"][:3] == [
        "収縮期血圧は有効な測定値ではありません / systolic is not a valid measurement",
        "拡張期血圧は有効な測定値ではありません / diastolic is not a valid measurement",
        "平均血圧は有効な測定値ではありません / mean is not a valid measurement",
    ]
    # the device is told "stored": nothing is lost, the raw reading is kept (quarantined, never posted)
    assert ev["device_told_stored"] and ward.scripts[-1].sent[-1] == "RLRQ"
    # the pulse of the same cuff cycle is fine, but the measurement is judged whole: on a kPa monitor too
    questionable = ward.device(
        [Measurement({"bp": ("17.3", "11.2", "13.2"), "pulse": 74}, now_on_device(), {"pulse": QUESTIONABLE})],
        "bp-kpa",
    )
    (ev2,) = _taps(ward, BAND1, questionable, 1)
    assert (ev2["code"], ev2["values"]) == ("reading-invalid", [])
    assert ev2["reasons"] == ["脈拍は有効な測定値ではありません / pulse is not a valid measurement"]
    told = [json.dumps({k: v for k, v in e.items() if k != "at"}, ensure_ascii=False) for e in (ev, ev2)]
    assert not any(x in t for t in told for x in ("131", "17.3", "130", "74")), told  # no number told as a value
    # the store keeps each as refused and quarantined; the invalid numbers were never kept as values
    (kept,) = _records(ward, "")
    assert kept["record"]["verdict"] == "refuse" and kept["state"] == "QUARANTINED"
    assert {(o["value"], o["normalized_value"]) for o in kept["record"]["observations"][:3]} == {("", None)}
    assert all("invalid" in o["flags"] for o in kept["record"]["observations"][:3])
    (kept2,) = _records(ward, "17.3")
    assert kept2["record"]["verdict"] == "refuse" and kept2["state"] == "QUARANTINED"
    pulse = next(o for o in kept2["record"]["observations"] if o["code"]["code"] == "18474")
    assert (pulse["value"], pulse["normalized_value"], "questionable" in pulse["flags"]) == ("", None, True)
    # and the timeline never shows either
    posts = ward.posts("P001", seconds=3)
    assert not any(x in p for p in posts for x in ("131/85", "130/84", "17.3", "脈拍 73", "脈拍 74")), posts


@pytest.mark.integration
def test_a_device_clock_that_is_off_is_read_over_nfc_corrected_and_told(ward: Ward) -> None:
    # a monitor whose own clock is 3 h fast stamps its reading 3 h "ahead": the reader reads that clock (GET of
    # the MDS), so the reading is not taken for a future one: its time is corrected and the nurse is told why
    now = datetime.now(TOKYO).replace(microsecond=0)
    fast = ward.device([Measurement({"bp": (132, 86, 101), "pulse": 75}, now_on_device() + timedelta(hours=3))],
                       clock_offset=3 * 3600)  # fmt: skip
    (ev,) = _taps(ward, BAND2, fast, 1)
    assert (ev["code"], ev["signal"], ev["patient"]["id"]) == ("reading-stored", "success", "P002")
    assert ev["reasons"] == [REASONS["clock_offset"]]
    assert ev["reasons"][0].startswith("機器の時計がずれています。測定時刻を補正しました")
    assert {v["flags"] for v in ev["values"]} == {"clock_offset"}
    corrected = datetime.fromisoformat(ev["values"][0]["time"])
    assert abs(corrected - now) < timedelta(minutes=2), (corrected, now)
    assert "PRST GetResult" in ward.scripts[-1].sent and ward.scripts[-1].sent[-1] == "RLRQ"
    (kept,) = _records(ward, "132")
    assert abs(kept["record"]["clock_offset_s"] - 3 * 3600) < 120 and kept["record"]["verdict"] == "post"
    post = next(p for p in ward.posts("P002", 1) if "血圧 132/86 mmHg" in p)
    assert "機器の時計がずれています（測定時刻は補正済み）" in post
    assert any(f"【バイタル】{t:%Y/%m/%d %H:%M}" in post for t in (corrected, corrected - timedelta(minutes=1)))

    # a device whose clock is right, with a record dated 2 h ahead: the age of a reading is not a clock
    # offset: that record is held as future-dated, and nothing says the clock is off
    right = ward.device([Measurement({"bp": (133, 87, 102), "pulse": 76}, now_on_device() + timedelta(hours=2))])
    (ev2,) = _taps(ward, BAND2, right, 1)
    assert (ev2["code"], ev2["signal"]) == ("reading-held", "attention")
    assert ev2["reasons"] == [REASONS["future-time"]] and "時計" not in json.dumps(ev2, ensure_ascii=False)
    assert not any("133/87" in p for p in ward.posts("P002", seconds=3))


@pytest.mark.integration
def test_a_contradiction_is_held_until_a_nurse_confirms_it_and_a_refused_one_never_is(ward: Ward) -> None:
    # mean outside systolic-diastolic: held (kept, not posted), the nurse told why, the device told "stored"
    held = ward.device([Measurement({"bp": (134, 88, 140), "pulse": 77}, now_on_device())])
    (ev,) = _taps(ward, BAND2, held, 1)
    assert (ev["code"], ev["signal"], ev["device_told_stored"]) == ("reading-held", "attention", True)
    assert ev["reasons"] == ["平均血圧が収縮期と拡張期の間にありません / Mean pressure is outside systolic-diastolic"]
    assert not any("134/88" in p for p in ward.posts("P002", seconds=2))
    (kept,) = _records(ward, "134")
    assert (kept["state"], kept["record"]["verdict"]) == ("QUARANTINED", "hold")
    # the nurse checked it at the bedside: `renkei devices confirm` posts it, naming who measured and confirmed
    done = cli("devices", "confirm", str(kept["id"]), "--nurse", "nurse.ito", "--config", str(ward.config),
               data=ward.data)  # fmt: skip
    assert done.returncode == 0, done.stderr
    post = next(p for p in ward.posts("P002", 1) if "血圧 134/88 mmHg" in p)
    assert "測定: nurse.sato　確認: nurse.ito" in post and "保留された値を看護師が確認しました" in post
    # a refused reading (not a value) cannot be confirmed
    (refused,) = [m for m in ward.stored() if m["record"]["verdict"] == "refuse"][:1]
    no = cli("devices", "confirm", str(refused["id"]), "--nurse", "nurse.ito", "--config", str(ward.config),
             data=ward.data)  # fmt: skip
    assert no.returncode != 0 and "only a held reading can be confirmed" in no.stderr + no.stdout


@pytest.mark.integration
def test_no_device_time_and_the_devices_own_precision_are_shown(ward: Ward) -> None:
    # a monitor without a clock stamp: posted, flagged, shown with the gateway's time
    untimed = ward.device([Measurement({"bp": (135, 89, 104), "pulse": 78}, None)])
    (ev,) = _taps(ward, BAND1, untimed, 1)
    assert (ev["code"], ev["reasons"]) == ("reading-stored", [REASONS["no_device_time"]])
    post = next(p for p in ward.posts("P001", 1) if "血圧 135/89 mmHg" in p)
    assert "機器の測定時刻がありません（受信時刻を表示）" in post
    # an unconverted value keeps the device's own precision
    scale = ward.device([Measurement({"weight": "52.40"}, now_on_device())], "scale")
    (ev,) = _taps(ward, BAND1, scale, 1)
    assert ev["code"] == "reading-stored" and [(v["value"], v["unit"]) for v in ev["values"]] == [("52.40", "kg")]
    assert [p for p in ward.posts("P001", 1) if "体重 52.40 kg" in p], ward.posts("P001", seconds=0)

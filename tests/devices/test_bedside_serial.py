"""Bedside serial devices end to end: the serial simulator on a loopback socket:// port feeds the bedside
connector's SerialFeed thread, which shares the tap session with the NFC reader; a real Engine, Store and
built-in timeline take the reading to the patient's timeline. Badge and wristband taps are simulated by
handing their tag ids to the connector's session, as the NFC reader does on a tap."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from renkei.config.loader import load_config
from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.devices import nomenclature as mdc
from renkei.devices.intellivue import Numeric, encode_frame, encode_numerics
from renkei.devices.simulators.serial_sim import serve_lines
from renkei.errors import ConfigError, NotFoundError
from renkei.pipelines.engine import Engine
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.store import Store

OXIMETER = "00AA00BB00CC0001"
SCALE = "00AA00BB00CC0002"
MONITOR = "00AA00BB00CC0003"
BADGE = "02FE000000000001"
WRISTBAND = "02FE000000000002"
OTHER_WRISTBAND = "02FE000000000099"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _device_now() -> datetime:
    """A device clock a few seconds behind the gateway, in device local time (no zone), whole seconds."""
    return (datetime.now(ZoneInfo("Asia/Tokyo")) - timedelta(seconds=5)).replace(tzinfo=None, microsecond=0)


def _config(tmp: Path, serial_yaml: str) -> Path:
    text = f"""
version: 1
data_dir: {tmp / "data"}
connectors:
  ward:
    type: bedside
    window_seconds: 120
    devices:
      "{OXIMETER}": {{model: "Rad-8", specialization: pulse-oximeter, facility: "訪問看護ステーションA"}}
      "{SCALE}": {{model: "A&D UC-321", specialization: weighing-scale, facility: "訪問看護ステーションA"}}
      "{MONITOR}": {{model: "IntelliVue MP30", specialization: patient-monitor, facility: "訪問看護ステーションA"}}
    badges:
      "{BADGE}": nurse.sato
    wristbands:
      "{WRISTBAND}": "P001"
      "{OTHER_WRISTBAND}": "P002"
    serial:
{serial_yaml}
  timeline:
    type: builtin
    members: [nurse.sato]
pipelines:
  - name: bedside-to-timeline
    source: ward
    destinations: [timeline]
    trigger: {{event: true}}
"""
    path = tmp / "renkei.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class Ward:
    """A real engine + store with the bedside connector started; `wait_for` polls the feed's counters."""

    def __init__(self, tmp: Path, serial_yaml: str) -> None:
        loaded = load_config(_config(tmp, serial_yaml))
        self.store = Store.in_data_dir(tmp / "data")
        PatientRegistry(self.store).set_consent("P001", True, ["all"], date(2026, 4, 1))  # P002 has none
        self.engine = Engine(loaded, self.store, tmp / "data")
        self.source = self.engine.connector("ward")

    def start(self) -> None:
        self.source.start(lambda items: self.engine.ingest("bedside-to-timeline", items))

    def tap(self, *tags: str) -> None:
        for tag in tags:
            assert self.source.session.tag(tag).ok

    def wait_for(self, done: Callable[[], bool], seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while not done() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert done(), dict(self.source.serial_feeds[0].counts)

    def posts(self, patient: str) -> list[dict]:
        self.engine.process_pending("bedside-to-timeline")
        timeline: BuiltinTimeline = self.engine.connector("timeline")
        return timeline.read(timeline.group_for_patient(patient))

    def close(self) -> None:
        self.source.stop()
        self.engine.close()
        self.store.close()


@pytest.fixture
def ward_factory(tmp_path: Path) -> Iterator[Callable[[str], Ward]]:
    wards: list[Ward] = []

    def make(serial_yaml: str) -> Ward:
        wards.append(Ward(tmp_path, serial_yaml))
        return wards[-1]

    yield make
    for w in wards:
        w.close()


def _serve(url: str, **kw: object) -> tuple[threading.Thread, list[int]]:
    sent: list[int] = []
    t = threading.Thread(target=lambda: sent.append(serve_lines(url, "oximeter", wait=10, **kw)))  # type: ignore[arg-type]
    t.start()
    return t, sent


def test_resent_oximeter_line_reaches_the_right_timeline_once(
    ward_factory: Callable[[str], Ward], caplog: pytest.LogCaptureFixture
) -> None:
    url = f"socket://127.0.0.1:{_free_port()}"
    ward = ward_factory(
        f'      - {{url: "{url}", protocol: masimo, device_id: "{OXIMETER}", take: all, reconnect_seconds: 0.05}}'
    )
    caplog.set_level(logging.INFO)
    ward.start()  # the port thread retries until the simulated device listens
    ward.tap(BADGE, WRISTBAND)
    when = _device_now()
    server, sent = _serve(url, when=when, count=1, bad=True, repeat=3)  # broken, good, good, good
    server.join(15)
    feed = ward.source.serial_feeds[0]
    ward.wait_for(lambda: feed.counts["reading-stored"] + feed.counts["reading-duplicate"] == 3)
    assert sent == [4]
    assert feed.counts["bad-frames"] == 1 and feed.running  # the bad line did not end the port thread
    codes = [o.code for o in ward.source.outcomes]
    assert codes == ["badge-accepted", "wristband-accepted", "reading-stored", "reading-duplicate", "reading-duplicate"]
    stored = ward.source.outcomes[2]
    assert (stored.patient_id, stored.nurse_id, stored.device_id) == ("P001", "nurse.sato", OXIMETER)
    bad = [r.getMessage() for r in caplog.records if "bad frame" in r.getMessage()]
    assert len(bad) == 1 and "bad frame at byte offset 5, skipped: masimo: SPO2 is not a number" in bad[0], (
        bad
    )  # 'SPO2=9X7%' at offset 5

    posts = ward.posts("P001")
    assert len(posts) == 1, [p["text"] for p in posts]
    text = posts[0]["text"]
    assert text.startswith(f"【バイタル】{when:%Y/%m/%d %H:%M}")
    assert "SpO2 97 %" in text and "脈拍 68 /min" in text
    with pytest.raises(NotFoundError):
        ward.posts("P002")  # nothing for the other patient, not even a group


def test_streaming_monitor_gives_one_reading_per_wristband_tap(ward_factory: Callable[[str], Ward]) -> None:
    """take: first (default) — a monitor printing every interval posts once per tap, not once per line.
    The device is played by `renkei simulate oximeter --serial …` in its own process."""
    url = f"socket://127.0.0.1:{_free_port()}"
    ward = ward_factory(f'      - {{url: "{url}", protocol: masimo, device_id: "{OXIMETER}", reconnect_seconds: 0.05}}')
    ward.start()
    ward.tap(BADGE, WRISTBAND)
    when = _device_now().isoformat()
    sim = subprocess.run(
        [
            sys.executable, "-c", "from renkei.bin.cli import main; main()",
            "simulate", "oximeter", "--serial", url, "--memory", "4", "--when", when, "--wait", "10", "--json",
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert sim.returncode == 0, sim.stderr[-2000:]
    assert '"lines": 4' in sim.stdout
    feed = ward.source.serial_feeds[0]
    ward.wait_for(lambda: feed.counts["reading-stored"] + feed.counts["skipped"] == 4)
    assert feed.counts["reading-stored"] == 1 and feed.counts["skipped"] == 3
    posts = ward.posts("P001")
    assert len(posts) == 1 and "SpO2 97 %" in posts[0]["text"] and "脈拍 68 /min" in posts[0]["text"]


def test_readings_without_a_session_are_refused_and_logged_once(
    ward_factory: Callable[[str], Ward], caplog: pytest.LogCaptureFixture
) -> None:
    url = f"socket://127.0.0.1:{_free_port()}"
    ward = ward_factory(
        f'      - {{url: "{url}", protocol: masimo, device_id: "{OXIMETER}", take: all, reconnect_seconds: 0.05}}'
    )
    caplog.set_level(logging.INFO, logger="renkei.connectors.bedside")
    ward.start()
    server, _sent = _serve(url, when=_device_now(), count=3, bad=False)  # no badge, no wristband
    server.join(15)
    feed = ward.source.serial_feeds[0]
    ward.wait_for(lambda: feed.counts["badge-first"] == 3)
    refusals = [r.getMessage() for r in caplog.records if "badge-first" in r.getMessage()]
    assert len(refusals) == 1 and OXIMETER in refusals[0]  # a streaming monitor does not flood the log
    with pytest.raises(NotFoundError):
        ward.posts("P001")


def test_scale_over_socket_with_overload_and_unit_lines(ward_factory: Callable[[str], Ward]) -> None:
    """A&D scale: an overload line carries no value (skipped, not an error); a kg line is stored."""
    port = _free_port()
    ward = ward_factory(
        f'      - {{url: "socket://127.0.0.1:{port}", protocol: and, device_id: "{SCALE}", take: all,'
        " reconnect_seconds: 0.05}"
    )
    ward.start()
    ward.tap(BADGE, WRISTBAND)
    with socket.create_server(("127.0.0.1", port)) as server:
        server.settimeout(10)
        conn, _ = server.accept()
        with conn:
            time.sleep(0.1)  # pyserial's open() discards what arrived before it finished
            conn.sendall(b"OL,+9999999E+19\r\nST,+0052.40 kg\r\n")
            feed = ward.source.serial_feeds[0]
            ward.wait_for(lambda: feed.counts["reading-stored"] == 1)
    assert feed.counts["empty"] == 1 and feed.counts["bad-frames"] == 0
    posts = ward.posts("P001")
    assert len(posts) == 1 and "体重 52.40 kg" in posts[0]["text"], posts[0]["text"]


def test_intellivue_frames_with_a_corrupt_one_in_between(
    ward_factory: Callable[[str], Ward], caplog: pytest.LogCaptureFixture
) -> None:
    """Binary C0…C1 frames: a frame with a bad FCS is logged with its offset; the next frame is stored."""
    port = _free_port()
    ward = ward_factory(
        f'      - {{url: "socket://127.0.0.1:{port}", protocol: intellivue, device_id: "{MONITOR}", take: all,'
        " baudrate: 115200, reconnect_seconds: 0.05}"
    )
    caplog.set_level(logging.WARNING, logger="renkei.devices.serial_feed")
    ward.start()
    ward.tap(BADGE, WRISTBAND)
    when = _device_now()
    good = encode_frame(
        encode_numerics(
            when,
            [
                Numeric(mdc.MDC_PULS_OXIM_SAT_O2, 96, mdc.MDC_DIM_PERCENT),
                Numeric(mdc.MDC_PULS_OXIM_PULS_RATE, 74, mdc.MDC_DIM_BEAT_PER_MIN),
            ],
        )
    )
    corrupt = bytearray(good)
    corrupt[-3] ^= 0x01  # one FCS bit flipped on the line
    with socket.create_server(("127.0.0.1", port)) as server:
        server.settimeout(10)
        conn, _ = server.accept()
        with conn:
            time.sleep(0.1)  # pyserial's open() discards what arrived before it finished
            conn.sendall(bytes(corrupt) + good)
            feed = ward.source.serial_feeds[0]
            ward.wait_for(lambda: feed.counts["reading-stored"] == 1)
    assert feed.counts["bad-frames"] == 1
    (bad,) = [r.getMessage() for r in caplog.records if "bad frame" in r.getMessage()]
    assert f"bad frame at byte offset {len(good) - 3}, skipped: intellivue: bad FCS" in bad, bad
    posts = ward.posts("P001")
    assert len(posts) == 1 and "SpO2 96 %" in posts[0]["text"] and "脈拍 74 /min" in posts[0]["text"]


def test_serial_device_must_be_registered(tmp_path: Path) -> None:
    loaded = load_config(
        _config(tmp_path, '      - {url: "loop://", protocol: intellivue, device_id: "00FF00FF00FF00FF"}')
    )
    store = Store.in_data_dir(tmp_path / "data")
    engine = Engine(loaded, store, tmp_path / "data")
    with pytest.raises(ConfigError) as info:
        engine.connector("ward")
    assert info.value.errors == [
        ("connectors.ward.serial[0].device_id", None, "00FF00FF00FF00FF is not a registered device")
    ]
    engine.close()
    store.close()

"""Bedside tap benchmark: tap-to-timeline latency over nfcpy's udp driver, and NDEF/PHDC decoder throughput.

    python bench/bench_tap.py [--taps 200] [--serial-lines 200]

Latency: a nurse badge is tapped once, then N times the wristband and a blood-pressure monitor (IEEE 11073
over PHDC on an emulated FeliCa Type 3 tag), each time with a new measurement in memory. The reader asks the
device for its clock (a GET of the MDS) before it stores the first report: one more round trip per tap.
Per tap we report tap -> tap event published (what the nurse's tap-station page sees, paired by the
systolic value in the event) and tap -> post committed on the built-in timeline.
The reader (the bedside connector in a real Engine with a Store and the built-in timeline, event worker
as in `renkei run`) and the emulator (a thread) share this process and loopback UDP. Per tap we report
the time from the reader's first command to the tag (the "tap") to the post being committed on the
patient's built-in timeline, and separately the PHDC exchange + durable store part (tag in field until
the reading is stored). The reader's own polling delay before it notices a tag (nfcpy's udp driver waits
up to ~1 s per poll) is not included: it depends on when in the poll cycle the tag arrives. Posts are
paired with taps by the reading itself (each tap's measurement has its own device time and systolic value,
both in the post text), never by order, so a failed tap cannot shift the pairs; failed taps are counted
(not served by the reader, refused or not stored, no post within 10 s).
Serial: after one badge + wristband tap, a simulated Masimo oximeter on a loopback socket:// port (the
bedside connector's serial port thread, `take: all`) prints N lines 50 ms apart, each its own measurement;
per line, the time from its last byte sent to its post committed (paired by the device time in the post).
Throughput: NDEF decode, PHD record decode and a full read-clear-poll exchange on in-memory tag bytes.
The same taps and lines to a real Matrix homeserver (local Synapse, worker process): bench_tap_matrix.py.
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from renkei.config.loader import load_config
from renkei.devices.ndef_phdc import PhdcManagerLink, decode_message, encode_message, read_phd_message, text_record
from renkei.devices.serial_protocols import encode_masimo_line
from renkei.devices.simulators.agents import KINDS, Measurement, PhdDeviceScript
from renkei.devices.simulators.field import TapReport, present
from renkei.devices.simulators.scenario import BADGE_IDM, WRISTBAND_IDM, device_idm
from renkei.devices.simulators.tags import EmulatedTag, IdentityTag, PhdcAgentTag
from renkei.devices.tap import TapOutcome
from renkei.errors import NotFoundError
from renkei.pipelines.engine import Engine
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.store import Store


def _port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def latency(taps: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="renkei-bench-tap-"))
    port = _port()
    bp = KINDS["bp"].system_id.hex().upper()
    cfg = tmp / "c.yaml"
    cfg.write_text(
        f"""version: 1
data_dir: {tmp}
connectors:
  ward:
    type: bedside
    nfc: udp:127.0.0.1:{port}
    window_seconds: 3600
    devices: {{"{bp}": {{model: BP, specialization: blood-pressure}}}}
    badges: {{"{BADGE_IDM.hex().upper()}": nurse.sato}}
    wristbands: {{"{WRISTBAND_IDM.hex().upper()}": P001}}
  timeline: {{type: builtin}}
pipelines:
  - {{name: p, source: ward, destinations: [timeline], trigger: {{event: true}}}}
""",
        encoding="utf-8",
    )
    store = Store.in_data_dir(tmp)
    PatientRegistry(store).set_consent("P001", True, ["all"], date(2026, 4, 1))  # no post without consent
    engine = Engine(load_config(cfg), store, tmp)
    source = engine.connector("ward")
    stop = threading.Event()

    def worker() -> None:  # as the scheduler's event worker does
        while not stop.is_set():
            engine.wait_pending("p", timeout=0.2)
            engine.process_pending("p")

    threading.Thread(target=worker, daemon=True).start()
    source.start(lambda items: engine.ingest("p", items))
    event_at: dict[int, float] = {}  # systolic value -> when its tap event was published
    bus = getattr(getattr(engine, "_connector_services", None), "events", None)
    if bus is not None:  # the engine's event bus (pipelines/connector_services.py)

        def on_event(event: dict[str, object]) -> None:
            values = event.get("values") or []
            if event.get("code") == "reading-stored" and values:
                event_at.setdefault(int(values[0]["value"]), time.time())  # type: ignore[index]

        bus.subscribers.append(on_event)
    outcomes: list[TapOutcome] = []  # every one: the connector keeps only its last 100
    keep = source.session.on_outcome
    source.session.on_outcome = lambda o: (outcomes.append(o), keep(o))
    reader_outcomes: list[TapOutcome] = []  # what the reader concluded per tap: beep (ok) or not
    source.reader.on_outcome = reader_outcomes.append
    # device clocks show the site's local time (Asia/Tokyo); each tap's measurement a minute apart, the last now
    start = datetime.now(ZoneInfo("Asia/Tokyo")).replace(microsecond=0, tzinfo=None) - timedelta(minutes=taps)
    kind = KINDS["bp"]
    tags: list[EmulatedTag] = [IdentityTag(BADGE_IDM)]
    for i in range(taps):
        # the wristband before each device tap: under load the udp emulation sometimes lets the reader read a
        # device tag before its PHD data is there; that tag is then a refused wristband, which (by the session
        # rules) ends the patient session, so every reading would wait for the next wristband tap
        tags.append(IdentityTag(WRISTBAND_IDM))
        s, d = 110 + i % 40, 70 + i % 20
        values = {"bp": (s, d, d + (s - d) // 3), "pulse": 60 + i % 30}  # a consistent mean: never held
        m = [Measurement(values, start + timedelta(minutes=i))]
        tags.append(PhdcAgentTag(device_idm("bp"), lambda m=m: PhdDeviceScript(kind, m)))
    reports: list[TapReport] = []
    t0 = time.perf_counter()
    present(f"udp:127.0.0.1:{port}", tags, wait=10, gap=0.6, linger=0.05, on_tap=reports.append)
    wall = time.perf_counter() - t0
    deadline = time.monotonic() + 10
    timeline = engine.connector("timeline")
    posts: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        try:
            posts = timeline.read(timeline.group_for_patient("P001"))
        except NotFoundError:  # the group appears with the first post
            posts = []
        if len(posts) >= taps:
            break
        time.sleep(0.1)
    stop.set()
    source.stop()
    device_taps = [r for r in reports if r.kind == "phdc"]  # one per device tag, in tag order: tap i
    assert len(device_taps) == taps, (len(device_taps), taps)
    served = [r for r in device_taps if r.served]
    # pair by reading: tap i measured at start + i minutes with systolic 110 + i % 40 (both in the text)
    tap_of = {(start + timedelta(minutes=i)).strftime("%Y/%m/%d %H:%M"): i for i in range(taps)}
    post_at: dict[int, float] = {}
    unpaired = 0
    for p in posts:
        m = re.search(r"【バイタル】(\d{4}/\d\d/\d\d \d\d:\d\d)\n血圧 (\d+)/", str(p["text"]))
        i = tap_of.get(m.group(1)) if m else None
        if i is None or i in post_at or int(m.group(2)) != 110 + i % 40:  # type: ignore[union-attr]
            unpaired += 1
            continue
        post_at[i] = float(p["created_at"])  # type: ignore[arg-type]
    lat = [post_at[i] - r.first_command_at for i, r in enumerate(device_taps) if r.served and i in post_at]
    # several taps share a systolic value (110 + i % 40): pair an event with the first tap of its value only
    ev_lat = [
        event_at[110 + i % 40] - r.first_command_at
        for i, r in enumerate(device_taps[:40])
        if r.served and 110 + i % 40 in event_at
    ]
    in_field = [r.seconds for r in served]
    codes = Counter(o.code for o in outcomes[1:])  # session outcomes after the badge
    no_post = taps - len(post_at)
    not_ok = Counter(o.code for o in reader_outcomes if not o.ok)
    print(f"tap-to-timeline over nfcpy udp: {taps} device taps, {codes['reading-stored']} stored, {len(posts)}"
          f" posts ({unpaired} unpaired), {wall:.1f} s wall")  # fmt: skip
    print(f"  failed taps: {no_post} without a post; {sum(not_ok.values())} without a beep {dict(not_ok)};"
          f" {taps - len(served)} the tag side saw unfinished")  # fmt: skip
    if lat:
        q = statistics.quantiles(lat, n=20)
        print(
            f"  tap -> post committed ({len(lat)} taps, paired by reading): median"
            f" {statistics.median(lat) * 1000:.0f} ms, p95 {q[18] * 1000:.0f} ms"
        )
    if len(ev_lat) >= 2:
        q = statistics.quantiles(ev_lat, n=20)
        print(
            f"  tap -> tap event published ({len(ev_lat)} taps): median {statistics.median(ev_lat) * 1000:.0f} ms,"
            f" p95 {q[18] * 1000:.0f} ms"
        )
    if in_field:
        q = statistics.quantiles(in_field, n=20)
        print(
            f"  tag in field (listen -> PHDC done + {0.05 * 1000:.0f} ms linger): median"
            f" {statistics.median(in_field) * 1000:.0f} ms, p95 {q[18] * 1000:.0f} ms"
        )
    engine.close()
    store.close()


def serial_latency(lines: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="renkei-bench-serial-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    oxi, badge, band = "00AA00BB00CC0001", "02FE000000000001", "02FE000000000002"
    cfg = tmp / "c.yaml"
    cfg.write_text(
        f"""version: 1
data_dir: {tmp}
connectors:
  ward:
    type: bedside
    window_seconds: 3600
    devices: {{"{oxi}": {{model: Rad-8, specialization: pulse-oximeter}}}}
    badges: {{"{badge}": nurse.sato}}
    wristbands: {{"{band}": P001}}
    serial: [{{url: "socket://127.0.0.1:{port}", protocol: masimo, device_id: "{oxi}", take: all,
              reconnect_seconds: 0.05}}]
  timeline: {{type: builtin}}
pipelines:
  - {{name: p, source: ward, destinations: [timeline], trigger: {{event: true}}}}
""",
        encoding="utf-8",
    )
    store = Store.in_data_dir(tmp)
    PatientRegistry(store).set_consent("P001", True, ["all"], date(2026, 4, 1))
    engine = Engine(load_config(cfg), store, tmp)
    source = engine.connector("ward")
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            engine.wait_pending("p", timeout=0.2)
            engine.process_pending("p")

    threading.Thread(target=worker, daemon=True).start()
    source.start(lambda items: engine.ingest("p", items))
    assert source.session.tag(badge).ok and source.session.tag(band).ok
    site_now = datetime.now(ZoneInfo("Asia/Tokyo")).replace(second=0, microsecond=0, tzinfo=None)
    start = site_now - timedelta(minutes=lines + 5)
    sent_at: list[float] = []
    timeline = engine.connector("timeline")
    posts: list[dict[str, object]] = []
    with socket.create_server(("127.0.0.1", port)) as server:
        server.settimeout(10)
        conn, _ = server.accept()
        with conn:
            time.sleep(0.3)  # pyserial's open() discards input that arrived before it finished
            for i in range(lines):
                conn.sendall(encode_masimo_line(97 - i % 3, 60 + i % 60, pi="03.60", when=start + timedelta(minutes=i)))
                sent_at.append(time.time())
                time.sleep(0.05)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    posts = timeline.read(timeline.group_for_patient("P001"))
                except NotFoundError:
                    posts = []
                if len(posts) >= lines:
                    break
                time.sleep(0.1)
    stop.set()
    counts = dict(source.serial_feeds[0].counts)
    source.stop()
    line_of = {(start + timedelta(minutes=i)).strftime("%Y/%m/%d %H:%M"): i for i in range(lines)}
    lat = []
    for p in posts:
        m = re.search(r"【バイタル】(\d{4}/\d\d/\d\d \d\d:\d\d)", str(p["text"]))
        i = line_of.get(m.group(1)) if m else None
        if i is not None:
            lat.append(float(p["created_at"]) - sent_at[i])  # type: ignore[arg-type]
    print(f"serial line-to-timeline over socket:// (Masimo, take: all): {lines} lines, {len(posts)} posts,"
          f" {lines - len(lat)} lines without a post; feed counts {counts}")  # fmt: skip
    if lat:
        q = statistics.quantiles(lat, n=20)
        print(
            f"  line sent -> post committed ({len(lat)} lines): median {statistics.median(lat) * 1000:.0f} ms,"
            f" p95 {q[18] * 1000:.0f} ms"
        )
    engine.close()
    store.close()


def throughput() -> None:
    ident = encode_message([text_record("renkei:patient:9999013")])
    n = 100_000
    t = time.perf_counter()
    for _ in range(n):
        decode_message(ident)
    print(f"NDEF decode (text record): {n / (time.perf_counter() - t):,.0f} messages/s")
    kind = KINDS["bp"]
    m = [Measurement(kind.values, datetime(2024, 5, 1, 7, 30))]
    agent_tag = PhdcAgentTag(device_idm("bp"), lambda: PhdDeviceScript(kind, m))
    sample = agent_tag.memory.ndef()
    t = time.perf_counter()
    for _ in range(n):
        read_phd_message(sample)
    print(f"PHD record decode (AARQ): {n / (time.perf_counter() - t):,.0f} messages/s")
    runs = 2000
    t = time.perf_counter()
    for _ in range(runs):
        agent_tag.reset()

        def write(data: bytes, tag: PhdcAgentTag = agent_tag) -> None:
            tag.memory.set_ndef(data)
            tag.memory.on_written(data)

        link = PhdcManagerLink(agent_tag.memory.ndef, write, sleep=lambda _s: None)
        result = link.run(read_phd_message(agent_tag.memory.ndef()))  # type: ignore[arg-type]
        assert len(result.observations) == 4
    dt = time.perf_counter() - t
    print(f"PHDC read-clear-poll exchange (AARQ, report, MDS GET, RLRQ; in memory): {runs / dt:,.0f} exchanges/s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--taps", type=int, default=200)
    ap.add_argument("--serial-lines", type=int, default=200)
    args = ap.parse_args()
    throughput()
    if args.serial_lines:
        serial_latency(args.serial_lines)
    if args.taps:
        latency(args.taps)

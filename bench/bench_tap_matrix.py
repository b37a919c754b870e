"""Bedside tap -> local Synapse: how long until a reading is visible in the patient's Matrix room.

    python bench/bench_tap_matrix.py [--taps 200] [--serial-lines 200] [--in-process]

Target: bedside tap -> local Synapse p95 <= 1 s. A throwaway Synapse is started with the test harness
(tests/support/synapse.py, installed once under ~/.cache/renkei-tests/), a bot account is registered, and
the bedside pipeline's destination is a `matrix` timeline on it; consent is recorded for the patient.

Processing is as `renkei run` does it: this process holds the bedside connector (the reader stores each
reading durably and beeps), a spawned worker process (pipelines/worker.py `run`, polling every 50 ms when
idle) parses, renders and posts to Synapse, and this process also runs the scheduler's every-2-s retry
delivery job. `--in-process` replaces the worker by a thread woken at once by ingest (bench_tap.py's way),
for comparison. The worker is started with `worker.start()`, as `renkei run` starts it.

What is measured (one clock, one host, loopback):
- visible: a Matrix client's long-poll /sync with the bot's token returns the event. This is the figure
  for the target: the moment any member's client could show the post.
- persisted: Synapse's `origin_server_ts` of the event (it has accepted and stored it).
NFC (`--taps`): from the reader's first command to the blood-pressure monitor's emulated tag (nfcpy udp
driver, as bench_tap.py; the reader's own polling delay before it notices a tag is not included).
Serial (`--serial-lines`): from the last byte of a Masimo line sent on a loopback socket:// port.
Events are paired with taps/lines by the reading itself (device time and systolic/SpO2 in the text),
never by order. Failures: no event within 15 s after the last tap, no beep, or unfinished on the tag side.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from renkei.config.loader import load_config
from renkei.devices.serial_protocols import encode_masimo_line
from renkei.devices.simulators.agents import KINDS, Measurement, PhdDeviceScript
from renkei.devices.simulators.field import TapReport, present
from renkei.devices.simulators.scenario import BADGE_IDM, WRISTBAND_IDM, device_idm
from renkei.devices.simulators.tags import EmulatedTag, IdentityTag, PhdcAgentTag
from renkei.devices.tap import TapOutcome
from renkei.pipelines import worker
from renkei.pipelines.engine import Engine
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.scheduler import RETRY_POLL_SECONDS
from renkei.pipelines.store import Store

ROOT = Path(__file__).resolve().parents[1]
TOKEN_ENV = "RENKEI_BENCH_MATRIX_TOKEN"
PIPELINE = "bedside"
BADGE, BAND = BADGE_IDM.hex().upper(), WRISTBAND_IDM.hex().upper()
OXI = "00AA00BB00CC0001"
SETTLE_SECONDS = 15.0
WARM_UP = -1  # index of the one reading sent first and waited for, not counted in the figures


def _load_harness() -> Any:
    """tests/support/synapse.py by path, as tests/connectors/conftest.py does (tests are no package)."""
    name = "renkei_test_support_synapse"
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "support" / "synapse.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(slots=True)
class Seen:
    body: str
    visible_at: float  # time.time() when /sync handed it to this client
    persisted_at: float  # Synapse's origin_server_ts


@dataclass
class SyncWatcher:
    """A Matrix client long-polling /sync (bot token): records every new m.room.message and when it came."""

    url: str
    token: str
    seen: list[Seen] = field(default_factory=list)
    limited: int = 0  # syncs that skipped events in a room already seen (pairs could go missing)
    rooms: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {self.token}"
        flt = '{"presence":{"not_types":["*"]},"account_data":{"not_types":["*"]},"room":{"timeline":{"limit":200}}}'
        self._filter = flt
        first = self._sync({"timeout": 0})  # start after whatever exists now
        self._since = first["next_batch"]
        self._thread = threading.Thread(target=self._run, name="sync-watcher", daemon=True)
        self._thread.start()

    def _sync(self, params: dict[str, Any]) -> dict[str, Any]:
        resp = self._session.get(
            f"{self.url}/_matrix/client/v3/sync", params={"filter": self._filter, **params}, timeout=60
        )
        resp.raise_for_status()
        return resp.json()

    def _run(self) -> None:
        while not self.stop.is_set():
            data = self._sync({"since": self._since, "timeout": 1000})
            now = time.time()
            self._since = data["next_batch"]
            for room_id, room in data.get("rooms", {}).get("join", {}).items():
                timeline = room.get("timeline", {})
                # A newly joined room comes "limited" (its earlier history is not sent): not a gap.
                self.limited += bool(timeline.get("limited")) and room_id in self.rooms
                self.rooms.add(room_id)
                for e in timeline.get("events", []):
                    if e["type"] == "m.room.message":
                        self.seen.append(Seen(e["content"].get("body", ""), now, e["origin_server_ts"] / 1000))

    def __enter__(self) -> SyncWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(timeout=5)
        self._session.close()


@contextmanager
def pipeline(hs: Any, bot: Any, bedside: str, in_process: bool) -> Iterator[Engine]:
    """An Engine whose bedside pipeline posts to Matrix, with processing as `renkei run` does it."""
    tmp = Path(tempfile.mkdtemp(prefix="renkei-bench-tapmx-"))
    cfg = tmp / "renkei.yaml"
    cfg.write_text(
        f"""version: 1
data_dir: {tmp}
connectors:
  ward:
{bedside}
  care:
    type: matrix
    homeserver: {hs.url}
    user_id: "{bot.user_id}"
    token_env: {TOKEN_ENV}
pipelines:
  - {{name: {PIPELINE}, source: ward, destinations: [care], trigger: {{event: true}}}}
""",
        encoding="utf-8",
    )
    os.environ[TOKEN_ENV] = bot.access_token  # the spawned worker inherits it
    store = Store.in_data_dir(tmp)
    PatientRegistry(store).set_consent("P001", True, ["all"], date(2026, 4, 1))  # no post without consent
    engine = Engine(load_config(cfg), store, tmp)
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def retry_job() -> None:  # the scheduler's "deliveries" job in the service process
        while not stop.wait(RETRY_POLL_SECONDS):
            engine.deliver_due()

    threads.append(threading.Thread(target=retry_job, daemon=True))
    process = None
    if in_process:

        def work() -> None:
            while not stop.is_set():
                engine.wait_pending(PIPELINE, timeout=0.2)
                engine.process_pending(PIPELINE)

        threads.append(threading.Thread(target=work, daemon=True))
    else:
        process, worker_stop = worker.start(cfg, tmp, PIPELINE)
    for t in threads:
        t.start()
    try:
        yield engine
    finally:
        stop.set()
        if process is not None:
            worker_stop.set()
            process.join(timeout=30)
            if process.exitcode not in (0, None):
                print(f"  WARNING: the worker process exited with {process.exitcode}")
        for t in threads:
            t.join(timeout=30)
        engine.close()
        store.close()


def _wait_for(watcher: SyncWatcher, want: int, timeout: float = SETTLE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while len(watcher.seen) < want and time.monotonic() < deadline:
        time.sleep(0.1)


def _report(label: str, n: int, sent_at: dict[int, float], key_of: Callable[[str], int | None], w: SyncWatcher) -> None:
    visible: dict[int, float] = {}
    persisted: dict[int, float] = {}
    untimed: set[int] = set()  # posted, but the tag side never finished the tap: no start time to use
    unknown = duplicates = 0
    for s in w.seen:
        i = key_of(s.body)
        if i is None:
            unknown += 1
        elif i in visible or i in untimed:
            duplicates += 1
        elif i not in sent_at:
            untimed.add(i)
        else:
            visible[i] = s.visible_at - sent_at[i]
            persisted[i] = s.persisted_at - sent_at[i]
    if WARM_UP in visible:  # worker start-up and room creation: not a bedside steady state
        print(f"  warm-up {label} (the worker's first post, creating the room): {visible.pop(WARM_UP) * 1000:.0f} ms")
        persisted.pop(WARM_UP)
    untimed.discard(WARM_UP)
    print(
        f"  {len(w.seen)} events seen by /sync: {len(visible)} timed, {len(untimed)} for {label}s the tag side saw"
        f" unfinished (not timed), {duplicates} duplicates, {unknown} unknown; {n - len(visible) - len(untimed)}"
        f" {label}s without an event; {w.limited} gapped syncs"
    )
    if untimed:
        print(f"  not timed ({label} numbers from 0): {sorted(untimed)}")
    for name, values in (("visible to a /sync client", visible), ("persisted (origin_server_ts)", persisted)):
        lat = list(values.values())
        if len(lat) < 2:
            continue
        q = statistics.quantiles(lat, n=20, method="inclusive")
        over = sum(x > 1.0 for x in lat)
        print(
            f"  {label} -> {name}: median {statistics.median(lat) * 1000:.0f} ms, p95 {q[18] * 1000:.0f} ms,"
            f" max {max(lat) * 1000:.0f} ms; {over} over 1 s"
        )


def nfc_taps(hs: Any, bot: Any, taps: int, in_process: bool) -> None:
    port = _free_port(socket.SOCK_DGRAM)
    bp = KINDS["bp"].system_id.hex().upper()
    bedside = f"""    type: bedside
    nfc: udp:127.0.0.1:{port}
    window_seconds: 3600
    devices: {{"{bp}": {{model: BP, specialization: blood-pressure}}}}
    badges: {{"{BADGE}": nurse.sato}}
    wristbands: {{"{BAND}": P001}}"""
    with SyncWatcher(hs.url, bot.access_token) as watcher, pipeline(hs, bot, bedside, in_process) as engine:
        source = engine.connector("ward")
        source.start(lambda items: engine.ingest(PIPELINE, items))
        reader_outcomes: list[TapOutcome] = []  # what the reader concluded per tap: beep (ok) or not
        source.reader.on_outcome = reader_outcomes.append
        start = datetime.now().replace(microsecond=0) - timedelta(minutes=taps + 5)
        kind = KINDS["bp"]
        tags: list[EmulatedTag] = []
        for i in range(WARM_UP, taps):
            s, d = 110 + i % 40, 70 + i % 20  # a consistent mean (between diastolic and systolic): never held
            m = [Measurement({"bp": (s, d, d + (s - d) // 3), "pulse": 60 + i % 30}, start + timedelta(minutes=i))]
            tags.append(PhdcAgentTag(device_idm("bp"), lambda m=m: PhdDeviceScript(kind, m)))
        reports: list[TapReport] = []
        nfc = f"udp:127.0.0.1:{port}"
        badge_band = [IdentityTag(BADGE_IDM), IdentityTag(WRISTBAND_IDM)]
        present(nfc, [*badge_band, tags[0]], wait=10, gap=0.6, linger=0.05, on_tap=reports.append)
        _wait_for(watcher, 1, timeout=60)  # the worker is up and the patient's room exists
        t0 = time.perf_counter()
        present(nfc, tags[1:], wait=10, gap=0.6, linger=0.05, on_tap=reports.append)
        wall = time.perf_counter() - t0
        _wait_for(watcher, 1 + taps)
        source.stop()
    device_taps = [r for r in reports if r.kind == "phdc"]
    assert len(device_taps) == 1 + taps, (len(device_taps), taps)
    tap_of = {(start + timedelta(minutes=i)).strftime("%Y/%m/%d %H:%M"): i for i in range(WARM_UP, taps)}

    def key_of(body: str) -> int | None:
        m = re.search(r"【バイタル】(\d{4}/\d\d/\d\d \d\d:\d\d)\n血圧 (\d+)/", body)
        i = tap_of.get(m.group(1)) if m else None
        return i if i is not None and m is not None and int(m.group(2)) == 110 + i % 40 else None

    not_ok = Counter(o.code for o in reader_outcomes if not o.ok)  # any tap, warm-up and identity ones too
    unfinished = sum(not r.served for r in device_taps[1:])
    print(
        f"NFC tap -> Matrix room (nfcpy udp, {'in-process thread' if in_process else 'worker process'}):"
        f" {taps} device taps in {wall:.1f} s; {sum(not_ok.values())} without a beep {dict(not_ok)},"
        f" {unfinished} unfinished on the tag side"
    )
    sent_at = {i: r.first_command_at for i, r in enumerate(device_taps, start=WARM_UP) if r.served}
    _report("tap", taps, sent_at, key_of, watcher)


def serial_lines(hs: Any, bot: Any, lines: int, in_process: bool) -> None:
    port = _free_port(socket.SOCK_STREAM)
    bedside = f"""    type: bedside
    window_seconds: 3600
    devices: {{"{OXI}": {{model: Rad-8, specialization: pulse-oximeter}}}}
    badges: {{"{BADGE}": nurse.sato}}
    wristbands: {{"{BAND}": P001}}
    serial: [{{url: "socket://127.0.0.1:{port}", protocol: masimo, device_id: "{OXI}", take: all,
              reconnect_seconds: 0.05}}]"""
    start = datetime.now().replace(second=0, microsecond=0) - timedelta(minutes=lines + 5)
    sent_at: dict[int, float] = {}
    with (
        SyncWatcher(hs.url, bot.access_token) as watcher,
        pipeline(hs, bot, bedside, in_process) as engine,
        socket.create_server(("127.0.0.1", port)) as server,
    ):
        source = engine.connector("ward")
        source.start(lambda items: engine.ingest(PIPELINE, items))
        assert source.session.tag(BADGE).ok and source.session.tag(BAND).ok
        server.settimeout(10)
        conn, _ = server.accept()
        with conn:
            time.sleep(0.3)  # pyserial's open() discards input that arrived before it finished
            t0 = time.perf_counter()
            for i in range(WARM_UP, lines):
                conn.sendall(encode_masimo_line(97 - i % 3, 60 + i % 60, pi="03.60", when=start + timedelta(minutes=i)))
                sent_at[i] = time.time()
                if i == WARM_UP:
                    _wait_for(watcher, 1, timeout=60)  # the worker is up and the patient's room exists
                    t0 = time.perf_counter()
                time.sleep(0.05)
            wall = time.perf_counter() - t0
            _wait_for(watcher, 1 + lines)
        counts = dict(source.serial_feeds[0].counts)
        source.stop()
    line_of = {(start + timedelta(minutes=i)).strftime("%Y/%m/%d %H:%M"): i for i in range(WARM_UP, lines)}

    def key_of(body: str) -> int | None:
        m = re.search(r"【バイタル】(\d{4}/\d\d/\d\d \d\d:\d\d)", body)
        return line_of.get(m.group(1)) if m else None

    print(
        f"serial line -> Matrix room (Masimo over socket://, 50 ms apart,"
        f" {'in-process thread' if in_process else 'worker process'}): {lines} lines in {wall:.1f} s;"
        f" feed counts {counts}"
    )
    _report("line", lines, sent_at, key_of, watcher)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--taps", type=int, default=200, help="NFC device taps (0: skip)")
    ap.add_argument("--serial-lines", type=int, default=200, help="serial lines (0: skip)")
    ap.add_argument("--in-process", action="store_true", help="process in a thread instead of the worker process")
    args = ap.parse_args()
    harness = _load_harness()
    with tempfile.TemporaryDirectory(prefix="renkei-bench-synapse-") as work, harness.start_synapse(Path(work)) as hs:
        print(f"Synapse on {hs.url} (started in {hs.startup_seconds:.1f} s)")
        if args.serial_lines:
            serial_lines(hs, hs.register("renkei-serial"), args.serial_lines, args.in_process)
        if args.taps:
            nfc_taps(hs, hs.register("renkei-nfc"), args.taps, args.in_process)


if __name__ == "__main__":
    main()

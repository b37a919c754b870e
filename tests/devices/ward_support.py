"""A ward for end-to-end bedside tests: the real `renkei run` service (a subprocess: the bedside connectors'
NFC readers on nfcpy's `udp` driver, the engine, the event worker, the built-in timeline), and the tags a
nurse taps (devices/simulators over nfcpy's card emulation on the readers' UDP ports). What the nurse and
the device were told is read from the published tap events (`tap-events.jsonl`) and the agents' own
exchanges; what the timeline shows through an Engine on the same data folder. Nothing of renkei's is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from renkei.config.loader import load_config
from renkei.devices.simulators.agents import KINDS, Measurement, PhdDeviceScript
from renkei.devices.simulators.field import TapReport, present
from renkei.devices.simulators.scenario import device_idm, device_wall_time
from renkei.devices.simulators.tags import EmulatedTag, IdentityTag, PhdcAgentTag
from renkei.errors import NotFoundError
from renkei.pipelines.engine import Engine
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import messages, patients
from renkei.pipelines.store import Store

BADGE, BADGE_LOST = "02FE000000000001", "02FE000000000003"
BAND1, BAND2, BAND_NO_CONSENT, BAND_UNKNOWN = (
    "02FE000000000011",
    "02FE000000000012",
    "02FE000000000019",
    "02FE0000000000EE",
)
REGISTERED = ("bp", "bp-kpa", "bp-status", "scale")  # the thermometer is nobody's: held for registration
NAMES = {
    "P001": ("山田 太郎", "ヤマダ タロウ"),
    "P002": ("佐藤 花", "サトウ ハナ"),
    "P009": ("鈴木 一郎", "スズキ イチロウ"),
}
TOKYO = ZoneInfo("Asia/Tokyo")
# nfcpy's udp emulation on a loaded 2-core machine: the reader polls about once a second and a PHDC
# exchange of a few messages can take seconds; a tap waits this long for the reader, at most
TAP_WAIT = 45.0
HOLD = 20.0  # the nurse holds a device on the reader until it signals (a PHDC exchange is several round trips)


def now_on_device() -> datetime:
    return datetime.now(TOKYO).replace(microsecond=0, tzinfo=None)  # the device clock: site-local, no zone


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from renkei.bin.cli import main; main()", *args, "--data", str(data)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def tag(idm: str) -> IdentityTag:
    return IdentityTag(bytes.fromhex(idm))


def codes(events: list[dict[str, Any]]) -> list[str]:
    return [e["code"] for e in events]


class Ward:
    """`renkei run` with `readers` bedside readers (connectors ward, ward2, …), each on its own UDP port."""

    def __init__(self, tmp: Path, *, readers: int = 1, window_seconds: float = 600, gates: str = "") -> None:
        """`gates`: the bedside pipelines' `gates:` (YAML flow mapping), e.g. "{consent_scope: vitals}"."""
        self.tmp, self.data = tmp, tmp / "data"
        self.ports = [free_udp_port() for _ in range(readers)]
        self.port = self.ports[0]
        self.names = ["ward", *(f"ward{i + 1}" for i in range(1, readers))]
        self.config = tmp / "renkei.yaml"
        devices = ", ".join(
            f'"{d.system_id.hex().upper()}": {{model: "{d.model}", specialization: {d.specialization}}}'
            for d in (KINDS[k] for k in REGISTERED)
        )
        connectors = "".join(
            f"""  {name}:
    type: bedside
    nfc: udp:127.0.0.1:{port}
    window_seconds: {window_seconds}
    devices: {{{devices}}}
    badges: {{"{BADGE}": nurse.sato, "{BADGE_LOST}": nurse.ito}}
    wristbands: {{"{BAND1}": P001, "{BAND2}": P002, "{BAND_NO_CONSENT}": P009}}
"""
            for name, port in zip(self.names, self.ports, strict=True)
        )
        gated = f", gates: {gates}" if gates else ""
        pipelines = "".join(
            f"  - {{name: bedside-{name}, source: {name}, destinations: [timeline], trigger: {{event: true}}{gated}}}\n"
            for name in self.names
        )
        self.config.write_text(
            f"version: 1\ndata_dir: {self.data}\ntimezone: Asia/Tokyo\nconnectors:\n{connectors}"
            f"  timeline: {{type: builtin}}\npipelines:\n{pipelines}",
            encoding="utf-8",
        )
        store = Store.in_data_dir(self.data)
        for p in ("P001", "P002"):
            PatientRegistry(store).set_consent(p, True, ["all"], date(2026, 4, 1))  # P009 has none
        with store.write() as conn:  # the patients' names, as an ADT would have brought them
            conn.execute(patients.insert(), [
                {"patient_id": p, "record": {"kind": "patient", "patient_id": p, "name_kanji": kanji,
                                             "name_kana": kana}, "updated_at": time.time()}
                for p, (kanji, kana) in NAMES.items()
            ])  # fmt: skip
        store.close()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.log = (tmp / "run.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from renkei.bin.cli import main; main()", "run", str(self.config),
             "--data", str(self.data)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        self.scripts: list[PhdDeviceScript] = []
        self.ignored: set[int] = set()  # events of a failed attempt that was tapped again

    def device(self, memory: list[Measurement], kind: str = "bp", *, clock_offset: float = 0.0) -> PhdcAgentTag:
        """A device tag whose agent holds `memory`; its own clock runs `clock_offset` seconds fast."""

        def clock() -> datetime:
            return device_wall_time(datetime.fromtimestamp(time.time() + clock_offset, TOKYO), TOKYO)

        def script() -> PhdDeviceScript:
            s = PhdDeviceScript(KINDS[kind], memory, clock=clock)
            self.scripts.append(s)
            return s

        return PhdcAgentTag(device_idm(kind), script)

    def present(self, tags: list[EmulatedTag], reader: int = 0) -> list[TapReport]:
        return present(f"udp:127.0.0.1:{self.ports[reader]}", tags, wait=TAP_WAIT, hold=HOLD, gap=0.6)

    def tap(self, *tags: EmulatedTag, again: str = "") -> None:
        """Tap `tags` in turn. Under load nfcpy's udp emulation can break a PHDC exchange (or the reader reads
        the device tag before its NDEF data is there); with `again`, the nurse then taps that wristband and the
        unfinished devices once more, as at a real bed, and the failed attempt's events are left out."""
        before = len(self.all_events())
        reports = self.present(list(tags))
        # every identity tag was read (a refused device's exchange is cut short on purpose: not "served")
        assert all(r.served for r in reports if r.kind == "identity"), [(r.kind, r.errors) for r in reports]
        for _ in range(3):
            unfinished = [t for t in tags if isinstance(t, PhdcAgentTag) and not t.done()]
            if not unfinished or not again:
                return
            time.sleep(0.5)
            after = len(self.all_events())
            self.ignored.update(range(before, after))
            before = after
            tags = (tag(again), *unfinished)
            self.present(list(tags))

    def all_events(self) -> list[dict[str, Any]]:
        path = self.data / "tap-events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def events(self) -> list[dict[str, Any]]:
        """The published events, without read-failed ones and those of failed attempts tapped again."""
        first_retry = min(self.ignored, default=1 << 30)
        return [
            e
            for i, e in enumerate(self.all_events())
            if e["code"] != "read-failed"
            and i not in self.ignored
            and not (i > first_retry and e["code"] == "reading-duplicate")  # a retried memory's part already stored
        ]

    def wait_events(self, n: int, seconds: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while len(events := self.events()) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        return events

    def posts(self, patient: str, n: int = 0, seconds: float = 20) -> list[str]:
        """The texts on `patient`'s built-in timeline, waiting up to `seconds` for at least `n`."""
        engine = Engine(load_config(self.config), Store.in_data_dir(self.data), self.data)
        try:
            deadline = time.monotonic() + seconds
            while True:
                try:
                    timeline = engine.connector("timeline")
                    texts = [p["text"] for p in timeline.read(timeline.group_for_patient(patient))]
                except NotFoundError:
                    texts = []
                if len(texts) >= n or time.monotonic() > deadline:
                    return texts
                time.sleep(0.2)
        finally:
            engine.close()
            engine.store.close()

    def stored(self) -> list[dict[str, Any]]:
        """Every stored tap record (the engine's messages of the bedside pipelines) with its state."""
        store = Store.in_data_dir(self.data)
        pipelines = [f"bedside-{n}" for n in self.names]
        q = sa.select(messages.c.id, messages.c.state, messages.c.raw).where(messages.c.pipeline.in_(pipelines))
        try:
            with store.read() as conn:
                rows = conn.execute(q.order_by(messages.c.id)).all()
            return [{"id": r.id, "state": r.state, "record": json.loads(r.raw)} for r in rows]
        finally:
            store.close()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

"""The bedside rules (docs/bedside.md) against the real `renkei run` service, tags emulated over nfcpy's `udp` driver.

`renkei run` (a subprocess: the bedside connector's NFC reader, the engine, the event worker, the built-in
timeline) polls `udp:127.0.0.1:PORT`; this test taps badges, wristbands and IEEE 11073 PHDC devices on
that port (devices/simulators) and then reads what the nurse and the device were told (the published tap
events in `tap-events.jsonl`, the agent's own exchange) and what the timeline shows. One service run
serves every rule, in sequences that start with a badge tap; nothing of renkei's is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from renkei.config.loader import load_config
from renkei.devices.simulators.agents import KINDS, Measurement, PhdDeviceScript
from renkei.devices.simulators.field import present
from renkei.devices.simulators.scenario import device_idm
from renkei.devices.simulators.tags import EmulatedTag, IdentityTag, PhdcAgentTag
from renkei.errors import NotFoundError
from renkei.pipelines.engine import Engine
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.store import Store

BADGE, BADGE_LOST = "02FE000000000001", "02FE000000000003"
BAND1, BAND2, BAND_NO_CONSENT, BAND_UNKNOWN = (
    "02FE000000000011",
    "02FE000000000012",
    "02FE000000000019",
    "02FE0000000000EE",
)
BP = KINDS["bp"]
TOKYO = ZoneInfo("Asia/Tokyo")


@dataclass
class StatusScript(PhdDeviceScript):
    """A monitor whose reports carry measurement-status bits (e.g. 0x8000 invalid) per object name."""

    status: dict[str, int] = field(default_factory=dict)

    def _reports(self) -> list[bytes]:
        assert self.agent is not None
        out = [self.agent.fixed_report(m.values, m.when, status=self.status) for m in self.memory]
        return [*out, self.agent.rlrq()]


def _now() -> datetime:
    return datetime.now(TOKYO).replace(microsecond=0, tzinfo=None)  # the device clock: site-local, no zone


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from renkei.bin.cli import main; main()", *args, "--data", str(data)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


class Ward:
    def __init__(self, tmp: Path) -> None:
        self.tmp, self.data, self.port = tmp, tmp / "data", _free_udp_port()
        self.config = tmp / "renkei.yaml"
        self.config.write_text(
            f"""version: 1
data_dir: {self.data}
timezone: Asia/Tokyo
connectors:
  ward:
    type: bedside
    nfc: udp:127.0.0.1:{self.port}
    window_seconds: 600
    devices:
      "{BP.system_id.hex().upper()}": {{model: "renkei-sim BP-1", specialization: blood-pressure}}
    badges: {{"{BADGE}": nurse.sato, "{BADGE_LOST}": nurse.ito}}
    wristbands: {{"{BAND1}": P001, "{BAND2}": P002, "{BAND_NO_CONSENT}": P009}}
  timeline: {{type: builtin}}
pipelines:
  - {{name: bedside, source: ward, destinations: [timeline], trigger: {{event: true}}}}
""",
            encoding="utf-8",
        )
        store = Store.in_data_dir(self.data)
        for p in ("P001", "P002"):
            PatientRegistry(store).set_consent(p, True, ["all"], date(2026, 4, 1))  # P009 has none
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

    def device(self, memory: list[Measurement], kind: str = "bp", **status: int) -> PhdcAgentTag:
        def script() -> PhdDeviceScript:
            s = StatusScript(KINDS[kind], memory, status=dict(status))
            self.scripts.append(s)
            return s

        return PhdcAgentTag(device_idm(kind), script)

    def tap(self, *tags: EmulatedTag, again: str = "") -> None:
        """Tap `tags` in turn. Under load nfcpy's udp emulation can break a PHDC exchange (or the reader reads
        the device tag before its NDEF data is there); with `again`, the nurse then taps that wristband and the
        unfinished devices once more, as at a real bed, and the failed attempt's events are left out."""
        before = len(self._all_events())
        reports = present(f"udp:127.0.0.1:{self.port}", list(tags), wait=30, gap=0.6)
        # every identity tag was read (a refused device's exchange is cut short on purpose: not "served")
        assert all(r.served for r in reports if r.kind == "identity"), [(r.kind, r.errors) for r in reports]
        for _ in range(3):
            unfinished = [t for t in tags if isinstance(t, PhdcAgentTag) and not t.done()]
            if not unfinished or not again:
                return
            time.sleep(0.5)
            after = len(self._all_events())
            self.ignored.update(range(before, after))
            before = after
            tags = (_tag(again), *unfinished)
            present(f"udp:127.0.0.1:{self.port}", list(tags), wait=30, gap=0.6)

    def _all_events(self) -> list[dict[str, Any]]:
        path = self.data / "tap-events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def events(self) -> list[dict[str, Any]]:
        """The published events, without read-failed ones and those of failed attempts tapped again."""
        first_retry = min(self.ignored, default=1 << 30)
        return [
            e
            for i, e in enumerate(self._all_events())
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

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def ward(tmp_path: Path):  # type: ignore[no-untyped-def]
    w = Ward(tmp_path)
    try:
        yield w
    finally:
        w.stop()


def _tag(idm: str) -> IdentityTag:
    return IdentityTag(bytes.fromhex(idm))


def _codes(events: list[dict[str, Any]]) -> list[str]:
    return [e["code"] for e in events]


@pytest.mark.integration
def test_bedside_rules_over_renkei_run_and_nfcpy_udp(ward: Ward) -> None:
    now = _now()
    # 1. wrong patient: badge -> P001 -> an unregistered wristband (refused) -> monitor: nobody gets it
    first = ward.device([Measurement({"bp": (121, 81, 94), "pulse": 70}, now)])
    ward.tap(_tag(BADGE), _tag(BAND1), _tag(BAND_UNKNOWN), first)
    ev = ward.wait_events(4)
    assert _codes(ev) == ["badge-accepted", "wristband-accepted", "unknown-patient", "wristband-first"], _codes(ev)
    assert [e["signal"] for e in ev] == ["success", "success", "refusal", "refusal"]
    assert ev[2]["message"] == {
        "ja": "登録されていない患者リストバンドです。患者の選択を解除しました",
        "en": "This wristband is not registered to a patient: no patient is selected now",
    }
    assert ward.scripts[-1].sent == ["AARQ"]  # the device was turned away: it keeps its memory, nothing confirmed

    # 2. no consent: refused at the wristband with the reason, before any reading is taken
    ward.tap(IdentityTag(bytes.fromhex(BADGE)), IdentityTag(bytes.fromhex(BAND_NO_CONSENT)),
             ward.device([Measurement({"bp": (122, 82, 95), "pulse": 70}, now)]))  # fmt: skip
    ev = ward.wait_events(7)[4:]
    assert _codes(ev) == ["badge-accepted", "patient-cannot-receive", "wristband-first"], _codes(ev)
    assert ev[1]["reasons"] == ["同意が記録されていません / No consent on record"] and ev[1]["signal"] == "refusal"
    assert ev[1]["patient"]["id"] == "P009" and ward.scripts[-1].sent == ["AARQ"]  # never told "stored"

    # 3. switch announced; stored memory posted as historical with its own time; the post names the nurse
    old = now - timedelta(days=3)
    ward.tap(_tag(BADGE), _tag(BAND1), _tag(BAND2))
    memory = ward.device([Measurement({"bp": (123, 83, 96), "pulse": 71}, old),
                          Measurement({"bp": (124, 84, 97), "pulse": 72}, now)])  # fmt: skip
    ward.tap(_tag(BAND2), memory, again=BAND2)  # the nurse taps the wristband again before the device
    ev = ward.wait_events(13)[7:]
    assert _codes(ev) == ["badge-accepted", "wristband-accepted", "patient-switched", "wristband-accepted",
                          "reading-stored", "reading-stored"], _codes(ev)  # fmt: skip
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
    ward.tap(_tag(BAND2), held, again=BAND2)
    invalid = ward.device([Measurement({"bp": ("NaN", 85, 98), "pulse": 70}, now + timedelta(seconds=2))])
    ward.tap(_tag(BAND2), invalid, again=BAND2)
    ev = ward.wait_events(17)[13:]
    assert _codes(ev) == ["wristband-accepted", "reading-held", "wristband-accepted", "reading-invalid"], _codes(ev)
    ev = [ev[1], ev[3]]
    assert [e["signal"] for e in ev] == ["attention", "refusal"]
    assert any(r.startswith("拡張期血圧が収縮期血圧以上です") for r in ev[0]["reasons"])
    assert ev[1]["reasons"][0].startswith("収縮期血圧は有効な測定値ではありません") and ev[1]["values"] == []
    assert all(e["device_told_stored"] for e in ev) and ward.scripts[-1].sent[-1] == "RLRQ"

    # 5. a future-dated record at the head of the memory is held; the newer one behind it is posted
    ward.tap(_tag(BAND2), ward.device([Measurement({"bp": (126, 86, 99), "pulse": 70}, now + timedelta(hours=2)),
                          Measurement({"bp": (127, 87, 100), "pulse": 70}, now + timedelta(seconds=3))]),
             again=BAND2)  # fmt: skip
    ev = ward.wait_events(20)[17:]
    assert _codes(ev) == ["wristband-accepted", "reading-held", "reading-stored"], _codes(ev)
    posts = ward.posts("P002", 3)
    assert sum("血圧 127/87 mmHg" in p for p in posts) == 1
    assert not any(v in p for p in posts for v in ("126/86", "300/310", "/85", "NaN"))

    # 6. a revoked badge is refused from then on; an unknown device is held for registration
    assert _cli("badges", "revoke", BADGE_LOST, data=ward.data).returncode == 0
    thermometer = ward.device([Measurement({"temperature": "36.6"}, now)], "thermometer")
    ward.tap(_tag(BADGE_LOST), _tag(BADGE), _tag(BAND1), thermometer)
    ev = ward.wait_events(24)[20:]
    assert _codes(ev) == ["badge-revoked", "badge-accepted", "wristband-accepted", "device-pending"], _codes(ev)
    pending = json.loads(_cli("devices", "pending", "--json", data=ward.data).stdout)
    assert [d["device_id"] for d in pending] == [KINDS["thermometer"].system_id.hex().upper()]
    assert not ward.posts("P001", seconds=0)
    # the log names codes and ids, never the patients
    log = (ward.tmp / "run.log").read_text(encoding="utf-8")
    assert "patient-switched" in log and not any(p in log for p in ("P001", "P002", "P009", "124/84"))

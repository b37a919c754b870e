"""The processing worker of an event pipeline runs in its own process and never outlives its service."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

RENKEI = str(Path(sys.executable).with_name("renkei"))


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        out |= {int(c) for c in (task / "children").read_text().split()}
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.integration
def test_worker_exits_when_the_service_is_killed(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "c.yaml").write_text(
        "version: 1\nconnectors:\n"
        f"  feed: {{type: mllp, host: 127.0.0.1, port: {port}}}\n  timeline: {{type: builtin}}\n"
        "pipelines:\n  - {name: in, source: feed, destinations: [timeline], trigger: {event: true},\n"
        "     gates: {consent: false}}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "RENKEI_DATA": str(tmp_path / "data")}
    with (tmp_path / "run.log").open("wb") as log:
        service = subprocess.Popen([RENKEI, "run", "c.yaml"], cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        workers: set[int] = set()
        while time.monotonic() < deadline:
            workers = {
                c for c in _children(service.pid) if "renkei-worker" in _cmdline(c) or "spawn_main" in _cmdline(c)
            }
            if workers:
                break
            time.sleep(0.1)
        assert workers, (tmp_path / "run.log").read_text()
        # The worker really processes: a message sent over MLLP reaches the timeline.
        adt = "MSH|^~\\&|HIS|SEND|GW|RCV|20240401120000||ADT^A08^ADT_A01|W1|P|2.5||||||UNICODE UTF-8\rPID|1||9999013\r"
        (tmp_path / "adt.hl7").write_text(adt, encoding="utf-8")
        sent = subprocess.run([RENKEI, "mllp", "send", f"127.0.0.1:{port}", "adt.hl7"], text=True,
                              capture_output=True, env=env, cwd=tmp_path, timeout=30)  # fmt: skip
        assert sent.returncode == 0, sent.stdout + sent.stderr
        deadline = time.monotonic() + 20
        status: dict = {}
        while time.monotonic() < deadline:
            out = subprocess.run([RENKEI, "status", "--json"], env=env, cwd=tmp_path, capture_output=True, text=True)
            status = json.loads(out.stdout)["messages"]
            if status == {"in": {"SENT": 1}}:
                break
            time.sleep(0.2)
        assert status == {"in": {"SENT": 1}}, (tmp_path / "run.log").read_text()
        # the worker parses and renders at a lower CPU priority than the listener, whose ACKs wait for no one
        assert all(os.getpriority(os.PRIO_PROCESS, w) > os.getpriority(os.PRIO_PROCESS, service.pid) for w in workers)
        assert all(_alive(w) for w in workers)
        service.send_signal(signal.SIGKILL)
        service.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers)
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(10)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except FileNotFoundError:
        return ""

"""`renkei run CONFIG` as a child process of a test, in its own process group so that a SIGKILL takes its
processing worker down with it (a real crash: nothing gets to finish what it was doing)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


class RenkeiService:
    def __init__(self, config: Path, data: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.args = [sys.executable, "-c", "from renkei.bin.cli import main; main()", "run", str(config),
                     "--data", str(data)]  # fmt: skip
        self.log = log
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )

    def kill(self) -> None:
        """SIGKILL the service and its worker (the whole process group it leads)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def wait_for(what: str, check: Callable[[], object], timeout: float, service: RenkeiService | None = None) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{service.tail() if service else ''}")

"""A throwaway FHIR R4 server (Medplum's fhir-router, in memory) for integration tests and benchmarks.

    with start_medplum() as server:
        requests.get(server.base_url + "/Patient")

HAPI needs Maven, which this machine cannot reach; Medplum's engine is on npm. The first use runs
`npm ci` (package-lock.json pins @medplum/* 4.5.2, which runs on Node 20) into
~/.cache/renkei-tests/medplum/<lock hash>/ and reuses it afterwards. server.mjs is copied next to its
node_modules each start (ESM resolves packages relative to the script). The server binds 127.0.0.1 on a
port it picks itself and prints; it is stopped (terminate, then kill) when the block ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
CACHE_DIR = Path(os.environ.get("RENKEI_TEST_CACHE", Path.home() / ".cache" / "renkei-tests")) / "medplum"
_READY = ".renkei-ready"


def ensure_installed() -> Path:
    """The directory holding node_modules for the pinned lock file (installing it on first use)."""
    lock = (HERE / "package-lock.json").read_bytes()
    target = CACHE_DIR / hashlib.sha256(lock).hexdigest()[:16]
    if (target / _READY).exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # parallel test runs share one install
        if not (target / _READY).exists():
            for name in ("package.json", "package-lock.json"):
                shutil.copy(HERE / name, target / name)
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=target,
                check=True,
                capture_output=True,
                timeout=600,
            )
            (target / _READY).touch()
    return target


@dataclass
class MedplumServer:
    process: subprocess.Popen[str]
    port: int
    token: str
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir/R4"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def count(self, resource_type: str, **params: str) -> int:
        resp = requests.get(
            f"{self.base_url}/{resource_type}", params={**params, "_count": "1000"}, headers=self.headers, timeout=10
        )
        resp.raise_for_status()
        return len(resp.json().get("entry", []))

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def stop(self) -> None:
        _stop(self.process)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


@contextlib.contextmanager
def start_medplum(token: str = "", startup_timeout: float = 60.0) -> Iterator[MedplumServer]:
    workdir = ensure_installed()
    shutil.copy(HERE / "server.mjs", workdir / "server.mjs")
    env = {**os.environ, "FHIR_TEST_TOKEN": token}
    log_path = Path(tempfile.mkstemp(prefix="medplum-", suffix=".log")[1])
    with open(log_path, "w") as log:  # a file, not a pipe: a chatty server must never block on stderr
        proc = subprocess.Popen(
            ["node", "server.mjs", "0"], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=log, text=True
        )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + startup_timeout
        line = proc.stdout.readline()  # "listening <port>", printed once the definitions are indexed
        if not line.startswith("listening "):
            raise RuntimeError(f"medplum test server did not start: {line!r} {log_path.read_text()[-2000:]}")
        server = MedplumServer(proc, int(line.split()[1]), token, log_path)
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("medplum test server did not answer in time")
            time.sleep(0.1)
        yield server
    finally:
        _stop(proc)
        log_path.unlink(missing_ok=True)

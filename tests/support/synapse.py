"""A throwaway Synapse homeserver for integration tests and benchmarks.

Usage (pytest: see the `synapse` fixture in tests/connectors/conftest.py)::

    with start_synapse(tmp_dir) as hs:
        bot = hs.register("renkei-bot", admin=True)
        requests.get(hs.url + "/_matrix/client/v3/joined_rooms", headers=bot.headers)

Synapse is installed from PyPI into its own virtualenv under ~/.cache/renkei-tests/synapse-venv the first
time (about 20 s) and reused afterwards, so a clean machine needs nothing beforehand. The server binds only
127.0.0.1 on a free port, keeps its SQLite database and media store in the given directory, has
registration closed (users are made through the shared-secret admin API) and rate limits raised so tests
never hit 429 by accident.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import secrets
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from ruamel.yaml import YAML

CACHE_DIR = Path(os.environ.get("RENKEI_TEST_CACHE", Path.home() / ".cache" / "renkei-tests"))
VENV_DIR = CACHE_DIR / "synapse-venv"
# Bounded so a breaking Synapse release cannot silently change what the tests exercise.
SYNAPSE_REQUIREMENT = "matrix-synapse>=1.100,<2"
SERVER_NAME = "localhost"
_READY_MARKER = ".renkei-ready"

# Every rc_* limiter Synapse reads (synapse/config/ratelimiting.py), raised far beyond what a test does.
_FAST = {"per_second": 10_000, "burst_count": 100_000}
RATE_LIMITS: dict[str, Any] = {
    "rc_message": _FAST,
    "rc_registration": _FAST,
    "rc_registration_token_validity": _FAST,
    "rc_login": {"address": _FAST, "account": _FAST, "failed_attempts": _FAST},
    "rc_admin_redaction": _FAST,
    "rc_joins": {"local": _FAST, "remote": _FAST},
    "rc_joins_per_room": _FAST,
    "rc_3pid_validation": _FAST,
    "rc_invites": {"per_room": _FAST, "per_user": _FAST, "per_issuer": _FAST},
    "rc_third_party_invite": _FAST,
    "rc_media_create": _FAST,
    "rc_presence": {"per_user": _FAST},
    "rc_delayed_event_mgmt": _FAST,
    "rc_room_creation": _FAST,
    "rc_reports": _FAST,
    "rc_user_directory": _FAST,
    "rc_profile": _FAST,
    "rc_key_requests": _FAST,
}


class SynapseHarnessError(RuntimeError):
    pass


@dataclass(slots=True, frozen=True)
class MatrixUser:
    user_id: str
    access_token: str = field(repr=False)
    password: str = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def ensure_synapse_venv(venv_dir: Path = VENV_DIR) -> Path:
    """The Python of a virtualenv with Synapse installed; installs it once, under a file lock."""
    python = venv_dir / "bin" / "python"
    if (venv_dir / _READY_MARKER).exists():
        return python
    venv_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(venv_dir.parent / "synapse-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits, then finds the marker
        if (venv_dir / _READY_MARKER).exists():
            return python
        shutil.rmtree(venv_dir, ignore_errors=True)  # a half-made venv from an interrupted run
        # The venv is built from the base interpreter, not from whatever venv runs the tests.
        base_python = getattr(sys, "_base_executable", sys.executable)
        _run([base_python, "-m", "venv", str(venv_dir)])
        _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", SYNAPSE_REQUIREMENT])
        (venv_dir / _READY_MARKER).write_text(SYNAPSE_REQUIREMENT + "\n")
    return python


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SynapseHarnessError(f"{cmd[:4]} exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(python: Path, workdir: Path, port: int) -> tuple[Path, str]:
    """Generate Synapse's own config, then edit it for a loopback test server. Returns (path, secret)."""
    config_path = workdir / "homeserver.yaml"
    _run(
        [
            str(python),
            "-m",
            "synapse.app.homeserver",
            "--server-name",
            SERVER_NAME,
            "--config-path",
            str(config_path),
            "--generate-config",
            "--report-stats=no",
        ],
        cwd=workdir,
    )
    yaml = YAML(typ="safe", pure=True)
    config = yaml.load(config_path.read_text())
    shared_secret = secrets.token_hex(32)
    config.update(
        {
            "listeners": [
                {
                    "port": port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(workdir / "homeserver.db")}},
            "media_store_path": str(workdir / "media_store"),
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "registration_shared_secret": shared_secret,
            "enable_registration": False,
            "report_stats": False,
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            **RATE_LIMITS,
        }
    )
    config.pop("registration_shared_secret_path", None)
    with config_path.open("w") as fh:
        yaml.dump(config, fh)
    return config_path, shared_secret


class SynapseServer:
    """A running Synapse; `register()` makes users, `stop()` ends it."""

    def __init__(self, workdir: Path, python: Path | None = None, startup_timeout: float = 60.0) -> None:
        self.workdir = workdir
        self.python = python or ensure_synapse_venv()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server_name = SERVER_NAME
        self.config_path, self._shared_secret = write_config(self.python, workdir, self.port)
        self._log = (workdir / "synapse-stdout.log").open("wb")
        started = time.monotonic()
        self.process = subprocess.Popen(
            [str(self.python), "-m", "synapse.app.homeserver", "--config-path", str(self.config_path)],
            cwd=workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready(startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SynapseHarnessError(f"Synapse exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                if requests.get(self.url + "/_matrix/client/versions", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise SynapseHarnessError(f"Synapse not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        text = (self.workdir / "synapse-stdout.log").read_text(errors="replace")
        hs_log = self.workdir / "homeserver.log"
        if hs_log.exists():
            text += hs_log.read_text(errors="replace")
        return text[-chars:]

    def register(self, localpart: str, password: str | None = None, admin: bool = False) -> MatrixUser:
        """Create a user through /_synapse/admin/v1/register with the shared-secret HMAC."""
        password = password or secrets.token_urlsafe(16)
        endpoint = self.url + "/_synapse/admin/v1/register"
        nonce_resp = requests.get(endpoint, timeout=10)
        nonce_resp.raise_for_status()
        nonce = nonce_resp.json()["nonce"]
        mac = hmac.new(self._shared_secret.encode(), digestmod=hashlib.sha1)
        for part in (nonce, localpart, password):
            mac.update(part.encode())
            mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        body = {"nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": mac.hexdigest()}
        resp = requests.post(endpoint, json=body, timeout=10)
        if resp.status_code != 200:
            raise SynapseHarnessError(f"register {localpart}: {resp.status_code} {resp.text}")
        data = resp.json()
        return MatrixUser(user_id=data["user_id"], access_token=data["access_token"], password=password)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


@contextlib.contextmanager
def start_synapse(workdir: Path) -> Iterator[SynapseServer]:
    workdir.mkdir(parents=True, exist_ok=True)
    server = SynapseServer(workdir)
    try:
        yield server
    finally:
        server.stop()


def ssmix2_to_matrix(
    workdir: Path, hs: SynapseServer, bot: MatrixUser, token_env: str, *, care: str = "", rest: str
) -> tuple[Path, Path, Path]:
    """A renkei.yaml under `workdir` from an SS-MIX2 source `ehr` (storage workdir/ssmix2) to a Matrix
    timeline `care` on this homeserver as `bot`, whose token the caller puts in $token_env: `care` adds
    lines to that connector (members, accounts), `rest` is the YAML after it (sensitivity, pipelines).
    Returns (storage, data folder, config)."""
    storage, data, config = workdir / "ssmix2", workdir / "data", workdir / "renkei.yaml"
    config.write_text(
        f"""version: 1
data_dir: {data}
connectors:
  ehr: {{type: ssmix2, root: "{storage}"}}
  care:
    type: matrix
    homeserver: {hs.url}
    user_id: "{bot.user_id}"
    token_env: {token_env}
{textwrap.indent(textwrap.dedent(care).strip(), "    ") if care.strip() else ""}
{textwrap.dedent(rest).strip()}
""",
        encoding="utf-8",
    )
    return storage, data, config

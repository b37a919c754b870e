"""A throwaway PostgreSQL server for integration tests and benchmarks.

Usage (pytest: see the `postgres` fixture in tests/pipelines/conftest.py)::

    with start_postgres() as pg:
        url = pg.create_database("t1")     # postgresql+psycopg://renkei@127.0.0.1:PORT/t1
        store = Store(url)

The server is Debian's own PostgreSQL (`/usr/lib/postgresql/<version>/bin`). When it is missing it is
installed once with `apt-get install -y postgresql` (after `apt-get update` if apt cannot find it), under
a file lock in ~/.cache/renkei-tests (or $RENKEI_TEST_CACHE) so parallel sessions install it once. This
needs root, as in CI. A fresh cluster is made with initdb in its own temp directory, owned by the
`postgres` system user when running as root (PostgreSQL refuses to run as root), listens only on
127.0.0.1 on a free port (its Unix socket in the temp directory, never /var/run), keeps `fsync` on like a
real deployment, trusts loopback logins for the `renkei` role, and is stopped and deleted on exit.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CACHE_DIR = Path(os.environ.get("RENKEI_TEST_CACHE", Path.home() / ".cache" / "renkei-tests"))
PG_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "renkei"  # the cluster's bootstrap role; the tests connect as it
SYSTEM_USER = "postgres"  # Debian's system user that owns clusters


class PostgresHarnessError(RuntimeError):
    pass


def _run(cmd: list[str], *, timeout: float = 600, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    if proc.returncode != 0:
        raise PostgresHarnessError(f"{cmd[:4]} exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
    return proc.stdout


def find_bindir() -> Path | None:
    """The bin directory of the newest PostgreSQL major version installed the Debian way."""
    found = []
    for initdb in PG_ROOT.glob("*/bin/initdb"):
        version = initdb.parent.parent.name
        if re.fullmatch(r"\d+(\.\d+)?", version):
            found.append((tuple(int(p) for p in version.split(".")), initdb.parent))
    return max(found)[1] if found else None


def ensure_postgresql() -> Path:
    """PostgreSQL's bin directory, installing the Debian package once (under a file lock) if needed."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0:
        raise PostgresHarnessError(
            "PostgreSQL is not installed and installing it needs root: apt-get install postgresql"
        )
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / "postgresql-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second session waits, then finds it installed
        bindir = find_bindir()
        if bindir is not None:
            return bindir
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"]
        with _services_not_started():
            try:
                _run(install, env=env)
            except PostgresHarnessError:  # stale or empty package lists (fresh containers ship none)
                _run(["apt-get", "update", "-q"], env=env)
                _run(install, env=env)
        bindir = find_bindir()
        if bindir is None:
            raise PostgresHarnessError(f"apt-get installed postgresql but no {PG_ROOT}/*/bin/initdb appeared")
        return bindir


@contextlib.contextmanager
def _services_not_started() -> Iterator[None]:
    """The package's postinst would start a system cluster on port 5432; a policy-rc.d answering 101
    ("action forbidden") stops that for the install only. An existing policy is left as it is."""
    policy = Path("/usr/sbin/policy-rc.d")
    if policy.exists():
        yield
        return
    policy.write_text("#!/bin/sh\n# renkei tests: no services started while installing PostgreSQL\nexit 101\n")
    policy.chmod(0o755)
    try:
        yield
    finally:
        policy.unlink(missing_ok=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(slots=True)
class PostgresServer:
    bindir: Path
    workdir: Path
    port: int
    host: str = "127.0.0.1"
    user: str = SUPERUSER

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        return _run(
            [*_as_owner(), str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
             "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", dbname, "-c", sql],
            timeout=60,
        )  # fmt: skip

    def create_database(self, name: str) -> str:
        """A new empty UTF-8 database; returns its SQLAlchemy URL (psycopg 3 driver)."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"database name {name!r}: use lower-case letters, digits and _")
        self.psql(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
        return self.url(name)


def _as_owner() -> list[str]:
    """Prefix that runs a PostgreSQL program as the `postgres` user when we are root."""
    return ["runuser", "-u", SYSTEM_USER, "--"] if os.geteuid() == 0 else []


@contextlib.contextmanager
def start_postgres(bindir: Path | None = None) -> Iterator[PostgresServer]:
    bindir = bindir or ensure_postgresql()
    # Not under pytest's tmp dir: that is mode 0700 for root, which the postgres user cannot enter.
    workdir = Path(tempfile.mkdtemp(prefix="renkei-pg-"))
    data = workdir / "data"
    try:
        if os.geteuid() == 0:
            shutil.chown(workdir, SYSTEM_USER, SYSTEM_USER)
        _run(
            [*_as_owner(), str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
             "--encoding=UTF8", "--locale=C.UTF-8"],
            timeout=300,
        )  # fmt: skip
        server = _start(bindir, workdir, data)
        try:
            yield server
        finally:
            _run([*_as_owner(), str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], timeout=120)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _start(bindir: Path, workdir: Path, data: Path) -> PostgresServer:
    """Start on a free loopback port; a port grabbed by someone else in between gets one more try."""
    last: PostgresHarnessError | None = None
    for _ in range(3):
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={workdir} -c fsync=on"
        try:
            _run(
                [*_as_owner(), str(bindir / "pg_ctl"), "-D", str(data), "-l", str(workdir / "server.log"),
                 "-o", options, "-w", "-t", "60", "start"],
                timeout=120,
            )  # fmt: skip
        except PostgresHarnessError as exc:
            log = workdir / "server.log"
            last = PostgresHarnessError(f"{exc}\n{log.read_text(errors='replace')[-3000:] if log.exists() else ''}")
            time.sleep(0.2)
            continue
        return PostgresServer(bindir, workdir, port)
    assert last is not None
    raise last

"""Run the real `renkei` command in a subprocess, as an operator would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

RENKEI = str(Path(sys.executable).with_name("renkei"))


class Cli:
    def __init__(self, cwd: Path, data: Path) -> None:
        self.cwd = cwd
        self.env_data = data
        self.env = {**os.environ, "RENKEI_DATA": str(data)}

    def __call__(self, *args: str, ok: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [RENKEI, *args], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if ok and proc.returncode != 0:
            raise AssertionError(f"renkei {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def act_as(self, name: str, role: str, password: str = "a long test password") -> None:
        """Make renkei user NAME with ROLE (by an admin once the folder has users) and act as them from now on."""
        secret = self.cwd / f".password-{name}"
        secret.write_text(password + "\n", encoding="utf-8")
        if not self.env.get("RENKEI_USER"):  # the first user of the folder is the test's admin
            admin = self.cwd / ".password-test.admin"
            admin.write_text("admin password for tests\n", encoding="utf-8")
            self("users", "add", "test.admin", "--role", "admin", "--password-file", str(admin))
            self.env.update(RENKEI_USER="test.admin", RENKEI_PASSWORD_FILE=str(admin))
        self("users", "add", name, "--role", role, "--password-file", str(secret))
        self.env.update(RENKEI_USER=name, RENKEI_PASSWORD_FILE=str(secret))

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path, tmp_path / "data")

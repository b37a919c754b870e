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

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path, tmp_path / "data")

"""Every test gets its own data folder by default, so nothing lands in ./renkei-data of the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_data_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.mktemp("renkei-data")
    monkeypatch.setenv("RENKEI_DATA", str(folder))
    return folder

"""Every test gets its own data folder by default, so nothing lands in ./renkei-data of the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_data_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.mktemp("renkei-data")
    monkeypatch.setenv("RENKEI_DATA", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _own_audit_key_and_anchors(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The audit key and anchors live outside the data folder (by default in the user's home): tests keep
    their own, so nothing lands in ~ and no test sees another's anchors."""
    folder = tmp_path_factory.mktemp("renkei-audit")
    monkeypatch.setenv("RENKEI_AUDIT_KEY_FILE", str(folder / "audit.key"))
    monkeypatch.setenv("RENKEI_AUDIT_ANCHOR_DIR", str(folder / "anchors"))
    return folder

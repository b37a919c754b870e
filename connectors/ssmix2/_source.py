"""SSMIX2Source: the engine's view of an SS-MIX2 storage (scan, read, parse)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pydantic

from renkei.connectors.base import ConnectorContext, Parsed, SourceItem

from ._errors import Defect, SSMIX2Error
from ._parse import ParseOptions, parse_file, stored_document


class SSMIX2Source:
    """Reads a standardized (and extended) SS-MIX2 storage.

    Config (`type: ssmix2`): `root` the storage folder; `replace_undecodable` (false) turns undecodable
    JIS bytes into ■ plus a warning instead of quarantining; `patient_mismatch` ("quarantine") or
    "warn" when PID-3, the folder and the file name name different patients.
    """

    class Settings(pydantic.BaseModel):
        root: Path
        replace_undecodable: bool = False
        patient_mismatch: Literal["quarantine", "warn"] = "quarantine"
        checks: bool = True

    def __init__(self, name: str, settings: Settings, context: ConnectorContext | None = None) -> None:
        self.name = name
        self.settings = settings
        self.context = context
        self.root = Path(settings.root)
        self._options = ParseOptions(settings.replace_undecodable, settings.patient_mismatch, settings.checks)

    def scan(self) -> Iterator[SourceItem]:
        return scan(self.root)

    def read(self, key: str) -> bytes:
        try:
            with open(os.path.join(self.root, key), "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise SSMIX2Error(Defect("unreadable", key, problem=f"cannot read: {exc.strerror}")) from exc

    def fingerprint(self, key: str) -> str:
        """The fingerprint `scan` gives `key` now (the engine records it when it re-reads a file)."""
        st = os.stat(os.path.join(self.root, key))
        return f"{st.st_mtime_ns}:{st.st_size}"

    def parse(self, key: str, raw: bytes) -> Parsed:
        return parse_file(key, raw, self._options)

    def document_content(self, key: str, raw: bytes, locator: str) -> bytes:
        """The file at `locator` of a stored HL7 v2 file (ED data); pipelines/documents.py calls it."""
        return stored_document(key, raw, locator)

    def close(self) -> None:
        pass

    def __enter__(self) -> SSMIX2Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sorted_entries(path: str) -> list[os.DirEntry[str]]:
    with os.scandir(path) as it:
        entries = [e for e in it if not e.name.startswith(".")]
    entries.sort(key=lambda e: e.name)
    return entries


def scan(root: Path | str, under: str = "") -> Iterator[SourceItem]:
    """Every file under `root` (or its subfolder `under`), patient folder by patient folder, sorted, streamed.

    Only one directory listing is held at a time per level, so memory stays flat however large the
    storage grows. Dot files (temporary files of writers) are skipped.
    """
    root_s = os.fspath(root)
    if under:
        start = os.path.join(root_s, under)
        if not os.path.isdir(start):
            return iter(())
        depth = under.count("/") + 1
        return walk_from(start, under, under if depth >= 3 else "", depth)

    return walk_from(root_s, "", "", 0)


def walk_from(path: str, rel: str, group: str, depth: int) -> Iterator[SourceItem]:
    for e in _sorted_entries(path):
        r = f"{rel}/{e.name}" if rel else e.name
        if e.is_dir(follow_symlinks=False):
            yield from walk_from(e.path, r, r if depth == 2 else group, depth + 1)
        elif e.is_file():
            st = e.stat()
            yield SourceItem(r, f"{st.st_mtime_ns}:{st.st_size}", group or rel)

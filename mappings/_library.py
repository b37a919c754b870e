"""Finding specs, code tables and fixtures: a site overlay directory first, then the shipped `specs/`.

    <dir>/<name>.yaml                         a mapping spec
    <dir>/codes/<table>.yaml                  a code table
    <dir>/fixtures/<name>/<case>.input.json   an example input (+ .output.json, or .error.json,
                                              and optionally .context.json)

An overlay file with the same name replaces the shipped one (a whole spec or a whole table, never a
merge, so what runs is what one file says).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from renkei.mappings._codes import CodeTable
from renkei.mappings._engine import Mapping
from renkei.mappings._spec import Spec
from renkei.mappings._yaml import YamlDoc, plain
from renkei.mappings.errors import MappingNotFoundError
from renkei.records import Record

BUILTIN_DIR = Path(__file__).resolve().parent / "specs"


class Library:
    """Loads and caches compiled mappings and code tables from an overlay dir and the shipped specs."""

    def __init__(self, overlay: Path | str | None = None, builtin: Path = BUILTIN_DIR) -> None:
        self.dirs = [Path(overlay)] if overlay else []
        self.dirs.append(builtin)
        self._mappings: dict[str, Mapping] = {}
        self._tables: dict[str, CodeTable] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        found = {p.stem for d in self.dirs if d.is_dir() for p in d.glob("*.yaml")}
        return sorted(found)

    def spec_path(self, name: str) -> Path:
        for d in self.dirs:
            path = d / f"{name}.yaml"
            if path.is_file():
                return path
        raise MappingNotFoundError(f"no mapping spec named {name!r} (looked in {', '.join(map(str, self.dirs))})")

    def fixtures_dir(self, name: str) -> Path | None:
        for d in self.dirs:
            path = d / "fixtures" / name
            if path.is_dir():
                return path
        return None

    def table(self, name: str) -> CodeTable:
        if name not in self._tables:
            for d in self.dirs:
                path = d / "codes" / f"{name}.yaml"
                if path.is_file():
                    self._tables[name] = CodeTable.load(name, YamlDoc(path))
                    break
            else:
                raise MappingNotFoundError(f"no code table named {name!r}")
        return self._tables[name]

    def load(self, name: str) -> Mapping:
        with self._lock:
            if name not in self._mappings:
                self._mappings[name] = self._compile(name)
            return self._mappings[name]

    def _compile(self, name: str) -> Mapping:
        path = self.spec_path(name)
        doc = YamlDoc(path)
        if not isinstance(doc.data, dict):
            raise doc.error((), "a mapping spec is a YAML mapping with at least `fields:`")
        try:
            spec = Spec.model_validate(plain(doc.data))
        except ValidationError as exc:
            raise doc.from_validation(exc) from exc
        if spec.name is not None and spec.name != name:
            raise doc.error(("name",), f"name {spec.name!r} differs from the file name {name!r}")
        return Mapping(name, path, spec, doc, self.table)


_LIBRARIES: dict[str, Library] = {}


def library(overlay: Path | str | None = None) -> Library:
    """The shared, caching library for an overlay directory (or none)."""
    key = str(Path(overlay).resolve()) if overlay else ""
    if key not in _LIBRARIES:
        _LIBRARIES[key] = Library(overlay)
    return _LIBRARIES[key]


def load_mapping(name: str, overlay: Path | str | None = None) -> Mapping:
    """Load and compile the spec `name` once (cached); raises MappingNotFoundError / MappingSpecError."""
    return library(overlay).load(name)


def apply(
    mapping: Mapping | str,
    data: dict[str, Any] | Record | Sequence[dict[str, Any] | Record],
    context: dict[str, Any] | None = None,
    *,
    overlay: Path | str | None = None,
) -> dict[str, Any]:
    """Apply a mapping (compiled, or loaded by name) to one input or a list of inputs; see `Mapping.apply`."""
    if isinstance(mapping, str):
        mapping = load_mapping(mapping, overlay)
    return mapping.apply(data, context)

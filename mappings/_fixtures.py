"""Run a spec's example fixtures and explain failures with a field list and a unified diff.

A case is `fixtures/<mapping>/<case>.input.json` with either `<case>.output.json` (the expected
payload) or `<case>.error.json` (`{"error": "MappingValueError", "field": "sex", "reason": "…"}`: the
mapping must fail there, naming that field), and optionally `<case>.context.json` (e.g. `{"at": …}`).

Diffs and error texts here contain the fixture's values. They are for the operator's terminal
(`renkei mapping test`); never log them.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from renkei.mappings._engine import Mapping
from renkei.mappings._library import Library, library
from renkei.mappings.errors import MappingError, MappingSpecError, MappingValueError


@dataclass
class CaseResult:
    mapping: str
    case: str
    passed: bool
    fields: list[str] = field(default_factory=list)  # target fields that differ
    diff: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def differing_fields(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Dotted paths (`items[1].value`) where two JSON values differ."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for key in sorted(set(expected) | set(actual), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in expected or key not in actual:
                out.append(sub)
            else:
                out.extend(differing_fields(expected[key], actual[key], sub))
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        out = []
        for i in range(max(len(expected), len(actual))):
            sub = f"{path}[{i}]"
            if i >= len(expected) or i >= len(actual):
                out.append(sub)
            else:
                out.extend(differing_fields(expected[i], actual[i], sub))
        return out
    if expected == actual and type(expected) is type(actual):
        return []
    return [path or "(top)"]


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MappingSpecError(f"{path}: unreadable fixture: {exc}", [(str(path), None, str(exc))]) from exc


def fixture_cases(lib: Library, name: str) -> list[tuple[str, Path]]:
    folder = lib.fixtures_dir(name)
    if folder is None:
        return []
    return sorted((p.name.removesuffix(".input.json"), folder) for p in folder.glob("*.input.json"))


def run_case(mapping: Mapping, case: str, folder: Path) -> CaseResult:
    data = _load_json(folder / f"{case}.input.json")
    context_path = folder / f"{case}.context.json"
    context = _load_json(context_path) if context_path.is_file() else {}
    expected_path, error_path = folder / f"{case}.output.json", folder / f"{case}.error.json"
    if not expected_path.is_file() and not error_path.is_file():
        return CaseResult(mapping.name, case, False, error=f"{case}: no .output.json or .error.json beside the input")
    try:
        actual = mapping.apply(data, context)
    except MappingValueError as exc:
        if error_path.is_file():
            return _check_error(mapping.name, case, _load_json(error_path), exc)
        return CaseResult(mapping.name, case, False, fields=[exc.field] if exc.field else [], error=exc.operator_text())
    if error_path.is_file():
        want = _load_json(error_path)
        return CaseResult(
            mapping.name, case, False, fields=[want.get("field", "")], error="expected an error, but mapping succeeded"
        )
    expected = _load_json(expected_path)
    fields = differing_fields(expected, actual)
    if not fields:
        return CaseResult(mapping.name, case, True)
    diff = "".join(
        difflib.unified_diff(
            _dump(expected).splitlines(keepends=True),
            _dump(actual).splitlines(keepends=True),
            fromfile=f"{case}.output.json (expected)",
            tofile=f"{mapping.name}({case}.input.json) (actual)",
        )
    )
    return CaseResult(mapping.name, case, False, fields=fields, diff=diff)


def _check_error(name: str, case: str, want: dict[str, Any], exc: MappingValueError) -> CaseResult:
    problems = []
    classes = {c.__name__ for c in type(exc).__mro__}
    if want.get("error", "MappingValueError") not in classes:
        problems.append(f"expected {want.get('error')}, got {type(exc).__name__}")
    if "field" in want and want["field"] != exc.field:
        problems.append(f"expected the error on field {want['field']!r}, got {exc.field!r}")
    if "reason" in want and want["reason"] not in exc.reason:
        problems.append(f"expected the reason to contain {want['reason']!r}")
    if problems:
        return CaseResult(
            name, case, False, fields=[exc.field], error="; ".join(problems) + f" — {exc.operator_text()}"
        )
    return CaseResult(name, case, True)


def run_fixtures(name: str | None = None, *, overlay: Path | str | None = None) -> list[CaseResult]:
    """Run the fixtures of one mapping (or all). A spec without fixtures counts as a failed case.

    Raises MappingSpecError for a broken spec or fixture file, MappingNotFoundError for a bad name."""
    lib = library(overlay)
    results: list[CaseResult] = []
    for spec in [name] if name else lib.names():
        mapping = lib.load(spec)
        cases = fixture_cases(lib, spec)
        if not cases:
            results.append(
                CaseResult(spec, "(none)", False, error="no fixtures: add fixtures/<name>/<case>.input.json")
            )
        for case, folder in cases:
            try:
                results.append(run_case(mapping, case, folder))
            except MappingSpecError:
                raise
            except MappingError as exc:  # e.g. a code table turning out ambiguous mid-run
                results.append(CaseResult(spec, case, False, error=str(exc)))
    return results

"""Mapping specs and code tables on the shared YAML loader (renkei.yamlio): errors as MappingSpecError."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from renkei.mappings.errors import MappingSpecError
from renkei.yamlio import YamlDoc as _SharedDoc
from renkei.yamlio import plain, yaml_path

__all__ = ["YamlDoc", "dotted", "plain"]


class YamlDoc(_SharedDoc):
    """A loaded spec file; parse and validation errors are MappingSpecError naming file, YAML path and line."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, error=MappingSpecError)

    def error(self, loc: Sequence[str | int], reason: str) -> MappingSpecError:
        where = dotted(loc)
        line = self.line_of(loc)
        return MappingSpecError(f"{self.path}:{line}: {where}: {reason}", [(f"{self.path}:{where}", line, reason)])

    def from_validation(self, exc: ValidationError) -> MappingSpecError:
        errors: list[tuple[str, int | None, str]] = []
        for err in exc.errors(include_url=False):
            # pydantic puts union member names and validator tags in loc; keep the YAML keys and indexes.
            loc = [p for p in err["loc"] if isinstance(p, int) or not _is_tag(p)]
            errors.append((f"{self.path}:{dotted(loc)}", self.line_of(loc), err["msg"]))
        text = "; ".join(f"line {line}: {where.rsplit(':', 1)[-1]}: {msg}" for where, line, msg in errors)
        return MappingSpecError(f"{self.path}: invalid: {text}", errors)


def _is_tag(part: str) -> bool:
    return part.startswith(("function-", "tagged-union", "list[", "dict[", "json-or-python")) or part in {
        "str",
        "int",
        "float",
        "bool",
        "Node",
        "Condition",
        "is-instance",
    }


def dotted(loc: Sequence[str | int]) -> str:
    return yaml_path(loc, top="(top)")

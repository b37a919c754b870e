"""YAML loading that remembers line numbers, so spec errors name file, YAML path and line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from renkei.mappings.errors import MappingSpecError


class YamlDoc:
    """A loaded YAML file: `data` (plain dicts/lists from ruamel's round-trip types) and line lookup."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: Any = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            raise MappingSpecError(
                f"{path}: not valid YAML (line {line}): {getattr(exc, 'problem', exc)}",
                [(str(path), line, str(getattr(exc, "problem", exc)))],
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise MappingSpecError(f"{path}: cannot read ({exc})", [(str(path), None, str(exc))]) from exc

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """1-based line of the deepest node along `loc` that exists."""
        node: Any = self.data
        line: int | None = 1
        for part in loc:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        return line

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
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def plain(value: Any) -> Any:
    """ruamel round-trip containers → plain dict/list (pydantic and the engine need no line info)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value

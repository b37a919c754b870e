"""The one YAML loader: ruamel.yaml round-trip parsing that remembers where every key and item is.

    doc = YamlDoc(path)                       # raises ConfigError naming the file and line if not YAML
    data = plain(doc.data)                    # plain dicts/lists for pydantic
    doc.line_of(("pipelines", 0, "source"))   # 1-based line of the deepest node that exists along the path
    yaml_path(("pipelines", 0, "source"))     # "pipelines[0].source"

Config files, mapping specs, code tables and phrase files all load through here, so every error a user
sees names the file, the YAML path and the line the same way. `error=` picks the exception type
(e.g. MappingSpecError): any callable taking (message, [(where, line, reason)]).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from renkei.errors import ConfigError

Loc = Sequence[str | int]
Problem = tuple[str, int | None, str]  # (where, 1-based line or None, reason)
ErrorFactory = Callable[[str, list[Problem]], Exception]


class YamlDoc:
    """One YAML file: `data` as ruamel round-trip containers (they carry the line numbers)."""

    def __init__(self, path: Path, text: str | None = None, *, error: ErrorFactory = ConfigError) -> None:
        self.path = Path(path)
        if text is None:
            try:
                text = self.path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise error(f"{self.path}: cannot read ({exc})", [("(file)", None, f"cannot read: {exc}")]) from exc
        try:
            self.data: Any = YAML(typ="rt").load(text)
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = str(getattr(exc, "problem", None) or exc)
            reason = f"not valid YAML: {problem}"
            raise error(f"{self.path}: {reason} (line {line})", [("(file)", line, reason)]) from exc

    def line_of(self, loc: Loc) -> int | None:
        """1-based line of the deepest node along `loc` that exists (1 for the top)."""
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

    def plain(self) -> Any:
        return plain(self.data)


def yaml_path(loc: Loc, top: str = "(top level)") -> str:
    """("pipelines", 0, "source") -> "pipelines[0].source"."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or top


def plain(value: Any) -> Any:
    """ruamel round-trip containers -> plain dict/list/str (keys become str)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)  # ruamel's scalar string subclasses
    return value

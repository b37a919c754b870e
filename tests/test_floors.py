"""The floors of docs/architecture.md, checked over the source with `ast` (import-linter checks them too,
in .ci/run): imports only point down, no package-level cycle, no module over 450 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("bin", "config", "connectors", "devices", "mappings", "pipelines")
VOCABULARY = {p.stem for p in ROOT.glob("*.py") if p.stem not in ("__init__", "setup")}
# Generated tables, exempt from the size rule (each says so in its header).
GENERATED: set[str] = set()
MAX_LINES = 450


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["renkei", *parts])


def _sources() -> list[Path]:
    files = [p for p in ROOT.glob("*.py") if p.stem in VOCABULARY]
    for folder in FOLDERS:
        files.extend((ROOT / folder).rglob("*.py"))
    return sorted(files)


def _imports(path: Path) -> set[str]:
    """Every renkei module `path` imports, type-checking-only imports included (the AST sees them all)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("renkei"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("renkei"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)  # `from renkei.x import y` may be a module
    return found


def _floor(module: str) -> str:
    """The top-level part a module belongs to: a design-card folder, or "vocabulary"."""
    head = module.split(".")[1] if module.count(".") else ""
    return head if head in FOLDERS else "vocabulary"


GRAPH = {_module_name(p): _imports(p) for p in _sources()}
FORBIDDEN_BELOW = {
    "vocabulary": {"bin", "pipelines", "config", "connectors", "devices", "mappings"},
    "devices": {"bin", "pipelines", "config", "connectors"},
    "mappings": {"bin", "pipelines", "config", "connectors"},
    "connectors": {"bin", "pipelines", "config"},
    "config": {"bin", "pipelines"},
    "pipelines": {"bin"},
    "bin": set(),
}


def test_no_module_imports_a_higher_floor() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if target.count(".") and _floor(target) in FORBIDDEN_BELOW[_floor(module)] and target in _known(target)
    )
    assert upward == []


def _known(target: str) -> set[str]:
    # `from renkei.pipelines import x` records both the package and "renkei.pipelines.x"; only modules count.
    return {target} if target in GRAPH or target.rpartition(".")[0] in GRAPH else set()


def test_no_package_level_cycle() -> None:
    edges = {
        (_floor(m), _floor(t)) for m, ts in GRAPH.items() for t in ts if t in GRAPH and _floor(m) != _floor(t)
    }
    cycles = sorted((a, b) for a, b in edges if (b, a) in edges)
    assert cycles == []


def test_mllp_does_not_import_ssmix2() -> None:
    offending = sorted(
        f"{m} -> {t}"
        for m, ts in GRAPH.items()
        if m.startswith("renkei.connectors.mllp")
        for t in ts
        if t.startswith("renkei.connectors.ssmix2")
    )
    assert offending == []


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_size(path: Path) -> None:
    if _module_name(path) in GENERATED:
        pytest.skip("generated table")
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it by concept"

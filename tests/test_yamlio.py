"""The shared YAML loader: line numbers, YAML paths, and errors naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from renkei.errors import ConfigError
from renkei.mappings.errors import MappingSpecError
from renkei.yamlio import YamlDoc, plain, yaml_path


def test_lines_and_paths(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: 1\npipelines:\n  - name: p\n    source: ehr\n  - name: q\n", encoding="utf-8")
    doc = YamlDoc(path)
    assert doc.line_of(("pipelines", 0, "source")) == 4
    assert doc.line_of(("pipelines", 1, "missing", "deeper")) == 5  # the deepest node that exists
    assert doc.line_of(()) == 1
    assert yaml_path(("pipelines", 0, "source")) == "pipelines[0].source"
    assert yaml_path(()) == "(top level)"
    data = plain(doc.data)
    assert data == {"a": 1, "pipelines": [{"name": "p", "source": "ehr"}, {"name": "q"}]}
    assert type(data) is dict and type(data["pipelines"][0]["name"]) is str


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a: 1\nb: [1, 2\nc: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        YamlDoc(path)
    assert str(err.value).startswith(f"{path}: not valid YAML")
    where, line, reason = err.value.errors[0]
    assert where == "(file)" and line is not None and line >= 2 and reason.startswith("not valid YAML")
    with pytest.raises(MappingSpecError):  # the caller picks the error type
        YamlDoc(path, error=MappingSpecError)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        YamlDoc(tmp_path / "missing.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"a: \xe9\n")
    with pytest.raises(ConfigError, match="cannot read"):
        YamlDoc(tmp_path / "latin1.yaml")

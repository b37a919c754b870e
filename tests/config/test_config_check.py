"""`renkei config check`: every error with its YAML path and line, exit code 2; secrets never inline."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from renkei.bin.cli import main
from renkei.config.loader import DEFAULT_CONFIG, load_config

BAD = """\
version: 1
connectors:
  ehr:
    type: ssmix2
    root: /srv/ssmix2
    extra_option: 1
  tl:
    type: nosuchthing
pipelines:
  - name: nightly
    source: ehr
    destinations: [tl, missing]
    trigger:
      cron: "99 2 * * *"
  - name: nightly
    source: nowhere
    destinations: []
"""


SECRET_ERROR = "secrets must not be written in the config: use ${ENV_VAR} or ${file:/path}"


def _check(tmp_path: Path, text: str, *args: str):
    f = tmp_path / "c.yaml"
    f.write_text(text, encoding="utf-8")
    return CliRunner().invoke(main, ["config", "check", str(f), *args])


def test_every_error_has_path_and_line(tmp_path: Path) -> None:
    result = _check(tmp_path, BAD, "--json")
    assert result.exit_code == 2
    errors = {(e["path"], e["line"]) for e in json.loads(result.output)["errors"]}
    assert ("connectors.ehr.extra_option", 6) in errors
    assert ("connectors.tl.type", 8) in errors
    assert ("pipelines[0].destinations[1]", 12) in errors
    assert ("pipelines[0].trigger.cron", 14) in errors
    assert ("pipelines[1].name", 15) in errors
    assert ("pipelines[1].source", 16) in errors
    assert ("pipelines[1].destinations", 17) in errors


def test_plain_output_names_lines(tmp_path: Path) -> None:
    result = _check(tmp_path, BAD)
    assert result.exit_code == 2
    assert "line 14: pipelines[0].trigger.cron:" in result.output


def test_inline_secret_is_refused_and_references_resolve(tmp_path: Path, monkeypatch) -> None:
    text = "version: 1\nconnectors:\n  w:\n    type: builtin\n    api_token: abc123\n"
    result = _check(tmp_path, text, "--json")
    assert result.exit_code == 2
    errors = json.loads(result.output)["errors"]
    assert {"path": "connectors.w.api_token", "line": 5, "error": SECRET_ERROR} in errors
    assert "abc123" not in result.output  # the secret is never echoed
    monkeypatch.delenv("RENKEI_TEST_ROOT", raising=False)
    unset = _check(tmp_path, 'version: 1\nconnectors:\n  e: {type: ssmix2, root: "${RENKEI_TEST_ROOT}"}\n', "--json")
    assert "RENKEI_TEST_ROOT is not set" in unset.output
    monkeypatch.setenv("RENKEI_TEST_ROOT", "/srv/other")
    f = tmp_path / "ok.yaml"
    f.write_text('version: 1\nconnectors:\n  e: {type: ssmix2, root: "${RENKEI_TEST_ROOT}"}\n', encoding="utf-8")
    assert str(load_config(f).connector_settings["e"].root) == "/srv/other"


def test_not_yaml_names_the_line(tmp_path: Path) -> None:
    result = _check(tmp_path, "version: 1\nconnectors: [\n  a: b\n", "--json")
    assert result.exit_code == 2
    assert json.loads(result.output)["errors"][0]["line"] is not None


def test_shipped_default_is_valid_and_relative_paths_resolve() -> None:
    loaded = load_config(DEFAULT_CONFIG)
    root = loaded.connector_settings["hospital"].root
    assert root == DEFAULT_CONFIG.parent / "samples" / "ssmix2" and root.is_dir()

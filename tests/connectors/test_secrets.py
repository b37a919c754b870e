"""One rule for secrets: stripped; unset, unreadable or empty is a ConfigError naming the setting, never the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from renkei.connectors.secrets import env_secret, file_secret, resolve_reference
from renkei.errors import ConfigError


def test_env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENKEI_T_TOKEN", "  s3cret-value\n")
    assert env_secret("RENKEI_T_TOKEN", setting="token_env") == "s3cret-value"
    monkeypatch.delenv("RENKEI_T_UNSET", raising=False)
    with pytest.raises(ConfigError, match=r"^token_env: environment variable RENKEI_T_UNSET is not set$"):
        env_secret("RENKEI_T_UNSET", setting="token_env")
    monkeypatch.setenv("RENKEI_T_BLANK", "  \n")
    with pytest.raises(ConfigError, match=r"^token_env: environment variable RENKEI_T_BLANK is empty$"):
        env_secret("RENKEI_T_BLANK", setting="token_env")


def test_file_secret(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("file-secret\n", encoding="utf-8")
    assert file_secret(tmp_path / "token", setting="secret_file") == "file-secret"
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"secret_file: secret file .*empty is empty"):
        file_secret(tmp_path / "empty", setting="secret_file")
    with pytest.raises(ConfigError, match=r"secret_file: secret file .* cannot be read"):
        file_secret(tmp_path / "missing", setting="secret_file")


def test_references_in_both_spellings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENKEI_T_TOKEN", "abc")
    (tmp_path / "t").write_text("def\n", encoding="utf-8")
    assert resolve_reference("${RENKEI_T_TOKEN}", setting="x") == "abc"
    assert resolve_reference("env:RENKEI_T_TOKEN", setting="x") == "abc"
    assert resolve_reference(f"${{file:{tmp_path / 't'}}}", setting="x") == "def"
    assert resolve_reference(f"file:{tmp_path / 't'}", setting="x") == "def"
    with pytest.raises(ConfigError) as err:
        resolve_reference("Bearer literal-token-value", setting="connectors.fhir.auth")
    assert "connectors.fhir.auth" in str(err.value) and "literal-token-value" not in str(err.value)

"""Reading secrets (tokens, HMAC keys, passwords) from the environment or from files: one rule for all.

    env_secret("RENKEI_MATRIX_TOKEN", setting="token_env")        # the variable's value
    file_secret(Path("/run/secrets/hook"), setting="secret_file")  # the file's content
    resolve_reference("${file:/run/secrets/fhir}", setting="connectors.fhir.auth")

The rule: a secret is stripped of surrounding whitespace (files end with a newline); a variable that is
not set, a file that cannot be read, and a secret that is empty after stripping are each a ConfigError
naming the setting and the variable or file, never the value. References come in two spellings, the
config file's `${NAME}` / `${file:/path}` and the short `env:NAME` / `file:/path`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from renkei.errors import ConfigError

REFERENCE = re.compile(r"\$\{(?:(file):)?([^}]+)\}")


def env_secret(var: str, *, setting: str) -> str:
    value = os.environ.get(var)
    if value is None:
        raise ConfigError(f"{setting}: environment variable {var} is not set")
    value = value.strip()
    if not value:
        raise ConfigError(f"{setting}: environment variable {var} is empty")
    return value


def file_secret(path: Path | str, *, setting: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{setting}: secret file {path} cannot be read ({reason})") from exc
    if not value:
        raise ConfigError(f"{setting}: secret file {path} is empty")
    return value


def resolve_reference(reference: str, *, setting: str) -> str:
    """The secret behind `${NAME}`, `${file:/path}`, `env:NAME` or `file:/path`."""
    ref = reference.strip()
    m = REFERENCE.fullmatch(ref)
    if m:
        kind, where = ("file" if m.group(1) else "env"), m.group(2)
    else:
        kind, _, where = ref.partition(":")
    if kind == "env" and where:
        return env_secret(where, setting=setting)
    if kind == "file" and where:
        return file_secret(where, setting=setting)
    raise ConfigError(f"{setting}: must be a secret reference: ${{NAME}}, ${{file:/path}}, env:NAME or file:/path")

"""Load a renkei YAML configuration, validate it, and report every error with its YAML path and line.

Secrets are never written in the file: a value is `${ENV_VAR}` (from the environment) or
`${file:/run/secrets/name}` (a file's content, stripped). A literal value under a key that names a secret
(password, token, secret, api_key, private_key) is an error. Relative paths in connector settings are
resolved against the config file's folder, so a config works from any working directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from renkei.config.schema import RenkeiConfig
from renkei.connectors.registry import settings_model
from renkei.connectors.secrets import REFERENCE, resolve_reference
from renkei.connectors.viewer_links import check_viewers
from renkei.errors import ConfigError
from renkei.yamlio import YamlDoc, plain, yaml_path

DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")

_REF = REFERENCE
_SECRET_KEY = re.compile(r"(password|passwd|token|secret|api_?key|private_?key)", re.IGNORECASE)

Loc = tuple[str | int, ...]
ErrorList = list[tuple[str, int | None, str]]


@dataclass(slots=True)
class LoadedConfig:
    path: Path
    config: RenkeiConfig
    connector_settings: dict[str, BaseModel]


def load_config(path: Path) -> LoadedConfig:
    path = Path(path)
    doc = YamlDoc(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{path}: a configuration is a mapping", [("(top level)", 1, "expected a mapping")])
    errors: ErrorList = []

    def add(loc: Loc, reason: str) -> None:
        errors.append((yaml_path(loc), doc.line_of(loc), reason))

    plain_data = _resolve_refs(plain(doc.data), (), add)
    config = None
    try:
        config = RenkeiConfig.model_validate(plain_data)
    except ValidationError as exc:
        for err in exc.errors():
            add(tuple(err["loc"]), err["msg"])
    # Checked on the raw mapping too, so one run lists every error, not just the first layer's.
    connectors = plain_data.get("connectors") if isinstance(plain_data.get("connectors"), dict) else {}
    pipelines = plain_data.get("pipelines") if isinstance(plain_data.get("pipelines"), list) else []
    _check_references(connectors, pipelines, add)
    if isinstance(plain_data.get("viewers"), dict):  # level-2 URL templates: only {viewer_id}/{facility}, never names
        for loc, reason in check_viewers(plain_data["viewers"]):
            add(loc, reason)
    settings = _connector_settings(connectors, path.parent, add)
    if errors:
        raise ConfigError(f"{path}: {len(errors)} error(s)", errors)
    assert config is not None
    base = path.parent
    for field in ("data_dir", "templates_dir", "phrases_dir", "mappings_dir"):
        value = getattr(config, field)
        if value is not None and not value.is_absolute():
            setattr(config, field, base / value)
    return LoadedConfig(path=path, config=config, connector_settings=settings)


def _resolve_refs(node: Any, loc: Loc, add: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            names_a_reference = k.endswith(("_env", "_file"))  # e.g. token_env: MATRIX_TOKEN
            if _SECRET_KEY.search(k) and not names_a_reference and isinstance(v, str) and v and not _REF.fullmatch(v):
                add((*loc, k), "secrets must not be written in the config: use ${ENV_VAR} or ${file:/path}")
                out[k] = v
            else:
                out[k] = _resolve_refs(v, (*loc, k), add)
        return out
    if isinstance(node, list):
        return [_resolve_refs(v, (*loc, i), add) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        return _REF.sub(lambda m: _lookup(m, loc, add), node)
    return node


def _lookup(match: re.Match[str], loc: Loc, add: Any) -> str:
    try:
        return resolve_reference(match.group(0), setting=yaml_path(loc))
    except ConfigError as exc:  # its text names the setting and the variable or file, never a value
        add(loc, str(exc).split(": ", 1)[-1])
        return ""


def _check_references(connectors: dict[str, Any], pipelines: list[Any], add: Any) -> None:
    seen: set[str] = set()
    for i, p in enumerate(pipelines):
        if not isinstance(p, dict):
            continue
        name = p.get("name")
        if name in seen:
            add(("pipelines", i, "name"), f"pipeline name {name!r} is used twice")
        seen.add(name)
        if "source" in p and p["source"] not in connectors:
            add(("pipelines", i, "source"), f"unknown connector {p['source']!r}")
        for j, d in enumerate(p.get("destinations") or []):
            if d not in connectors:
                add(("pipelines", i, "destinations", j), f"unknown connector {d!r}")


def _connector_settings(connectors: dict[str, Any], base: Path, add: Any) -> dict[str, BaseModel]:
    out: dict[str, BaseModel] = {}
    for name, c in connectors.items():
        if not isinstance(c, dict) or not isinstance(c.get("type"), str):
            continue  # reported by the schema
        try:
            model = settings_model(c["type"])
        except ConfigError as exc:
            add(("connectors", name, "type"), str(exc))
            continue
        given = {k: v for k, v in c.items() if k != "type"}
        unknown = [k for k in given if k not in model.model_fields]
        for k in unknown:  # a typo must not be silently ignored, whatever the connector's own model says
            add(("connectors", name, k), f"unknown setting for a {c['type']} connector")
        if unknown:
            continue
        try:
            settings = model.model_validate(given)
        except ValidationError as exc:
            for err in exc.errors():
                add(("connectors", name, *err["loc"]), err["msg"])
            continue
        for field, value in settings:
            if isinstance(value, Path) and not value.is_absolute():
                setattr(settings, field, base / value)
        out[name] = settings
    return out

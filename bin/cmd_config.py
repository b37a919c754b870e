"""`renkei config check FILE`: validate a configuration and list every error with its YAML path and line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from renkei.bin.common import emit_json, json_option
from renkei.config.checks import environment_problems
from renkei.config.loader import load_config
from renkei.errors import ConfigError


@click.group()
def config() -> None:
    """Check configurations."""


@config.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def check(file: Path, as_json: bool) -> None:
    """Validate FILE and the files and folders it names; exit 0 if valid, 2 with every error otherwise."""
    try:
        loaded = load_config(file)
        problems = environment_problems(loaded)
        if problems:
            raise ConfigError(f"{file}: {len(problems)} error(s)", [(p.path, None, p.reason) for p in problems])
    except ConfigError as exc:
        errors = [{"path": p, "line": line, "error": reason} for p, line, reason in exc.errors]
        if as_json:
            emit_json({"file": str(file), "valid": False, "errors": errors})
        else:
            click.echo(f"{file}: {len(errors)} error(s)", err=True)
            for e in errors:
                click.echo(f"  line {e['line'] or '?'}: {e['path']}: {e['error']}", err=True)
        sys.exit(2)
    summary = {
        "file": str(file),
        "valid": True,
        "connectors": {n: c.type for n, c in loaded.config.connectors.items()},
        "pipelines": [p.name for p in loaded.config.pipelines],
    }
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"{file}: valid ({len(summary['connectors'])} connectors, {len(summary['pipelines'])} pipelines)")

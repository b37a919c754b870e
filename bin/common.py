"""Shared pieces of the commands: where the data folder is, JSON output, and turning errors into exits."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from renkei.errors import ConfigError, NotFoundError, RefusedError, RenkeiError
from renkei.pipelines.store import DB_FILE, STORE_URL_ENV, Store

if TYPE_CHECKING:
    from renkei.pipelines.engine import Engine

DEFAULT_DATA = "renkei-data"
LAST_CONFIG = "last-config"


def data_dir_of(explicit: str | None, configured: Path | None = None) -> Path:
    """--data, then RENKEI_DATA, then the config's data_dir, then ./renkei-data: the same for every command."""
    if explicit:
        return Path(explicit)
    if os.environ.get("RENKEI_DATA"):
        return Path(os.environ["RENKEI_DATA"])
    return configured or Path(DEFAULT_DATA)


data_option = click.option(
    "--data", "data", default=None, metavar="DIR", help=f"data folder (default: $RENKEI_DATA or ./{DEFAULT_DATA})"
)
json_option = click.option("--json", "as_json", is_flag=True, help="machine-readable output")


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone().isoformat(timespec="seconds") if ts else ""


def remember_config(data_dir: Path, config_path: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / LAST_CONFIG).write_text(str(config_path.resolve()), encoding="utf-8")


def remembered_config(data_dir: Path) -> Path:
    marker = data_dir / LAST_CONFIG
    if not marker.exists():
        raise NotFoundError(f"no configuration has been run with data folder {data_dir}; give --config")
    return Path(marker.read_text(encoding="utf-8").strip())


def open_store(data: str | None) -> tuple[Store, Path]:
    data_dir = data_dir_of(data)
    if not os.environ.get(STORE_URL_ENV) and not (data_dir / DB_FILE).exists():
        raise NotFoundError(
            f"no renkei data in {data_dir} (run `renkei demo` or `renkei run CONFIG` first, or give --data)"
        )
    return Store.in_data_dir(data_dir), data_dir


def engine_for(store: Store, data: str | None, config_file: Path | None = None) -> Engine:
    """An engine on the data folder's store, with the given config or the one last run there."""
    from renkei.config.loader import load_config
    from renkei.pipelines.engine import Engine

    data_dir = data_dir_of(data)
    return Engine(load_config(config_file or remembered_config(data_dir)), store, data_dir)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Print renkei errors plainly (no traceback) and exit 2 for bad config/input, 1 otherwise."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            for where, line, reason in exc.errors:
                click.echo(f"  {where}{f' (line {line})' if line else ''}: {reason}", err=True)
            sys.exit(2)
        except (NotFoundError, RefusedError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except RenkeiError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper


class ProgressLine:
    """A one-line live counter per phase on stderr (only on a terminal): the source streams, so there
    is no total to draw a bar against without scanning twice."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.counts: dict[str, int] = {}
        self.enabled = sys.stderr.isatty()

    def __call__(self, phase: str, n: int) -> None:
        self.counts[phase] = self.counts.get(phase, 0) + n
        if self.enabled:
            parts = ", ".join(f"{v} {k}" for k, v in self.counts.items())
            click.echo(f"\r{self.label}: {parts}", nl=False, err=True)

    def done(self) -> None:
        if self.enabled and self.counts:
            click.echo("", err=True)

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


CONFIG_ENV = "RENKEI_CONFIG"


def data_dir_of(explicit: str | None, configured: Path | None = None) -> Path:
    """--data, then RENKEI_DATA, then the config's data_dir (the config given to the command, else the one
    $RENKEI_CONFIG names), then ./renkei-data: the same for every command."""
    if explicit:
        return Path(explicit)
    if os.environ.get("RENKEI_DATA"):
        return Path(os.environ["RENKEI_DATA"])
    return configured or _env_config_data_dir() or Path(DEFAULT_DATA)


def _env_config_data_dir() -> Path | None:
    """`data_dir:` of the config $RENKEI_CONFIG names (relative to that file, as the loader reads it)."""
    name = os.environ.get(CONFIG_ENV)
    if not name:
        return None
    import yaml

    path = Path(name)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"${CONFIG_ENV} names {path}, which cannot be read: {type(exc).__name__}") from None
    value = data.get("data_dir") if isinstance(data, dict) else None
    return (path.parent / str(value)) if value else None


def config_data_dir(data: str | None, config_file: Path | None) -> Path:
    """The data folder of a command that was given --config: that config's `data_dir:` counts too."""
    if config_file is None or data or os.environ.get("RENKEI_DATA"):
        return data_dir_of(data)
    from renkei.config.loader import load_config

    return data_dir_of(None, load_config(config_file).config.data_dir)


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


def open_store(data: str | None, data_dir: Path | None = None) -> tuple[Store, Path]:
    data_dir = data_dir or data_dir_of(data)
    if not os.environ.get(STORE_URL_ENV) and not (data_dir / DB_FILE).exists():
        raise NotFoundError(
            f"no renkei data in {data_dir} (run `renkei demo` or `renkei run CONFIG` first, or give --data DIR, "
            f"RENKEI_DATA=DIR or {CONFIG_ENV}=CONFIG with its data_dir:)"
        )
    store = Store.in_data_dir(data_dir)
    daily_anchor(store)
    return store, data_dir


def daily_anchor(store: Store) -> None:
    """Keep today's audit anchor outside the data folder (see pipelines/audit_anchors.py). Failing to write
    it must not stop the command, but is said."""
    from renkei.pipelines.audit_anchors import anchor_if_due

    try:
        with store.read() as conn:
            anchor_if_due(conn, store.url)
    except OSError as exc:
        click.echo(f"warning: the audit anchor could not be written: {exc.strerror} ({exc.filename})", err=True)


def engine_for(store: Store, data: str | None, config_file: Path | None = None) -> Engine:
    """An engine on the data folder's store, with the given config or the one last run there."""
    from renkei.config.loader import load_config
    from renkei.pipelines.engine import Engine

    data_dir = data_dir_of(data)
    return Engine(load_config(config_file or remembered_config(data_dir)), store, data_dir)


# The exit-code rule of every command (README "After the demo"):
EXIT_OK = 0
EXIT_REFUSED = 1  # refused, not found, or a check that found problems (audit broken, storage defects)
EXIT_BAD_INPUT = 2  # bad arguments, bad input files, invalid configuration
EXIT_INTERNAL = 3  # a bug or an unexpected failure of the system: reported in one line, never a traceback


class CommandError(click.ClickException):
    """An error the top-level command prints as one line (or one JSON object under --json)."""

    def __init__(self, message: str, exit_code: int, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.details = details or []

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)
        for d in self.details:
            line = f" (line {d['line']})" if d.get("line") else ""
            click.echo(f"  {d['path']}{line}: {d['error']}", err=True)


def command_error(exc: RenkeiError) -> CommandError:
    if isinstance(exc, (NotFoundError, RefusedError)):
        return CommandError(str(exc), EXIT_REFUSED)
    errors = exc.errors if isinstance(exc, ConfigError) else []
    details = [{"path": p, "line": line, "error": r} for p, line, r in errors]
    return CommandError(str(exc), EXIT_BAD_INPUT, details)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Renkei errors become CommandErrors: printed plainly (no traceback) or as JSON by the top level,
    exit 2 for bad config/input, 1 for refusals and not-found."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RenkeiError as exc:
            raise command_error(exc) from None

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

"""`renkei serve CONFIG`: the web console (people, approvals, timelines) beside `renkei run`."""

from __future__ import annotations

from pathlib import Path

import click

from renkei.bin.common import data_dir_of, data_option, handle_errors, remember_config
from renkei.config.loader import load_config
from renkei.config.schema import ConsoleConfig
from renkei.pipelines.engine import Engine
from renkei.pipelines.store import Store


def serve_console(engine: Engine, console: ConsoleConfig, port: int | None = None) -> None:
    """Serve until Ctrl-C. Request lines are not logged: their paths carry patient ids (the audit log
    records every read instead)."""
    import uvicorn

    from renkei.bin.console import ConsoleSettings, build_app

    settings = ConsoleSettings(
        allowed_hosts=list(console.allowed_hosts), idle_timeout_seconds=console.idle_timeout_minutes * 60,
        tls=console.tls_cert is not None,
    )  # fmt: skip
    app = build_app(engine.store, engine, engine.data_dir, settings)
    scheme = "https" if settings.tls else "http"
    port = console.port if port is None else port
    click.echo(f"console: {scheme}://{console.host}:{port}/ (Ctrl-C to stop)")
    uvicorn.run(
        app, host=console.host, port=port, access_log=False, log_level="warning",
        ssl_certfile=str(console.tls_cert) if console.tls_cert else None,
        ssl_keyfile=str(console.tls_key) if console.tls_key else None,
    )  # fmt: skip


@click.command()
@click.argument("config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--port", type=int, default=None, help="override the config's console port")
@data_option
@handle_errors
def serve(config_file: Path, port: int | None, data: str | None) -> None:
    """Serve the web console for CONFIG_FILE's data folder (users: `renkei users add`)."""
    loaded = load_config(config_file)
    data_dir = data_dir_of(data, loaded.config.data_dir)
    remember_config(data_dir, config_file)
    engine = Engine(loaded, Store.in_data_dir(data_dir), data_dir)
    try:
        serve_console(engine, loaded.config.console, port)
    finally:
        engine.close()
        engine.store.close()

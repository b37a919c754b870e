"""`renkei run CONFIG` (the long-running service, or `--once`) and `renkei demo` (the embedded default)."""

from __future__ import annotations

import logging
import secrets
from datetime import date
from pathlib import Path

import click

from renkei.bin.common import (
    ProgressLine,
    data_dir_of,
    data_option,
    emit_json,
    handle_errors,
    json_option,
    remember_config,
)
from renkei.config.loader import DEFAULT_CONFIG, load_config
from renkei.pipelines.engine import Engine, RunStats
from renkei.pipelines.migrations.runner import require_current
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.store import Store


def _open(config_path: Path, data: str | None) -> Engine:
    loaded = load_config(config_path)
    data_dir = data_dir_of(data, loaded.config.data_dir)
    require_current(data_dir)  # every database of the folder, before anything starts
    remember_config(data_dir, config_path)
    return Engine(loaded, Store.in_data_dir(data_dir), data_dir)


def run_all_once(engine: Engine, show_progress: bool) -> dict[str, RunStats]:
    results = {}
    for p in engine.config.pipelines:
        meter = ProgressLine(p.name) if show_progress else None
        results[p.name] = engine.run_pipeline(p, progress=meter)
        if meter:
            meter.done()
    return results


def print_stats(results: dict[str, RunStats], as_json: bool) -> None:
    if as_json:
        emit_json({name: {k: getattr(s, k) for k in s.__slots__} for name, s in results.items()})
        return
    for name, s in results.items():
        click.echo(
            f"{name}: {s.received} new messages stored ({s.unchanged} unchanged), {s.queued} queued, "
            f"{s.filtered} filtered, {s.quarantined} quarantined; {s.sent} delivered, {s.failed} to retry, "
            f"{s.dead} dead ({s.seconds:.2f}s)"
        )


@click.command()
@click.argument("config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--once", is_flag=True, help="run every pipeline once, deliver what is due, and exit")
@data_option
@json_option
@handle_errors
def run(config_file: Path, once: bool, data: str | None, as_json: bool) -> None:
    """Run the pipelines of CONFIG_FILE on their triggers (until stopped), or once with --once."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not a line per job run
    engine = _open(config_file, data)
    try:
        if once:
            print_stats(run_all_once(engine, show_progress=False), as_json)
        else:
            from renkei.pipelines.scheduler import run_forever

            run_forever(engine)
    finally:
        engine.close()
        engine.store.close()


def _demo_consent(engine: Engine) -> None:
    """The demo's patients are fictitious; record their consent (audited) as a clinic would on enrolment,
    so the consent gate, which stays on, lets their data through."""
    registry = PatientRegistry(engine.store)
    source = engine.connector(engine.config.pipelines[0].source)
    for person in sorted({item.group.rsplit("/", 1)[-1] for item in source.scan()}):
        if registry.consent(person) is None:
            registry.set_consent(person, True, ["all"], date.today(), note="renkei demo: fictitious patient")


DEMO_USERS = (
    ("demo.admin", "admin", "デモ 管理者"),
    ("demo.doctor", "physician", "デモ 医師"),
    ("demo.nurse", "nurse", "デモ 看護師"),
)


def _demo_users(engine: Engine) -> list[tuple[str, str, str]]:
    """The demo's console users, made on the first demo run with fresh random passwords (printed once:
    only their argon2 hashes are kept). Later runs make none."""
    from renkei.pipelines.people import People

    people = People(engine.store)
    if people.any():
        return []
    made = []
    for name, role, display in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        people.add(name, [role], password, display_name=display, actor="renkei demo")
        made.append((name, role, password))
    return made


@click.command()
@click.option("--once", is_flag=True, help="run the demo pipeline and exit without serving the console")
@click.option("--port", default=8765, show_default=True, help="port of the console (127.0.0.1 only)")
@data_option
@json_option
@handle_errors
def demo(once: bool, port: int, data: str | None, as_json: bool) -> None:
    """Run the embedded default: a shipped synthetic SS-MIX2 storage -> the built-in timeline."""
    engine = _open(DEFAULT_CONFIG, data)
    try:
        _demo_consent(engine)
        results = run_all_once(engine, show_progress=not as_json)
        print_stats(results, as_json)
        if not as_json:
            click.echo(f"data folder: {engine.data_dir.resolve()}")
            click.echo("try: renkei status · renkei timeline list · renkei timeline show <patient id>")
        if not once:
            from renkei.bin.cmd_serve import serve_console

            for name, role, password in _demo_users(engine):
                click.echo(f"console user {name} ({role}): password {password}")
            serve_console(engine, engine.config.console, port)
    finally:
        engine.close()
        engine.store.close()

"""`renkei run CONFIG` (the long-running service, or `--once`) and `renkei demo` (the embedded default)."""

from __future__ import annotations

import logging
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
from renkei.config.checks import environment_problems
from renkei.config.loader import DEFAULT_CONFIG, load_config
from renkei.errors import ConfigError
from renkei.pipelines.engine import Engine, RunStats
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.store import Store


def _open(config_path: Path, data: str | None, service: bool = False) -> Engine:
    loaded = load_config(config_path)
    problems = environment_problems(loaded)
    for p in problems:
        if service and p.can_wait:  # e.g. a folder not mounted yet: each run tries again (one log line each)
            logging.getLogger("renkei.run").warning("%s: %s; runs will fail until it is there", p.path, p.reason)
    blocking = [p for p in problems if not (service and p.can_wait)]
    if blocking:
        raise ConfigError(
            f"{config_path}: {len(blocking)} error(s) (`renkei config check` lists them too)",
            [(p.path, None, p.reason) for p in blocking],
        )
    data_dir = data_dir_of(data, loaded.config.data_dir)
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
    engine = _open(config_file, data, service=not once)
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


@click.command()
@click.option("--once", is_flag=True, help="run the demo pipeline and exit without serving the web page")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="port of the local web page"
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="another Host name the page answers to (besides 127.0.0.1, localhost, [::1]); repeatable",
)
@data_option
@json_option
@handle_errors
def demo(once: bool, port: int, allow_hosts: tuple[str, ...], data: str | None, as_json: bool) -> None:
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
            from renkei.bin.web import serve

            serve(engine.data_dir, port, allow_hosts)
    finally:
        engine.close()
        engine.store.close()

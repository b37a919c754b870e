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
from renkei.config.checks import environment_problems
from renkei.config.loader import DEFAULT_CONFIG, load_config
from renkei.errors import ConfigError
from renkei.pipelines.engine import Engine, RunStats
from renkei.pipelines.migrations.runner import require_current
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


def patients_without_consent(engine: Engine) -> dict[str, int]:
    """Per pipeline with the consent gate on: how many of its patients have no granted consent covering
    its scope, so nothing of theirs flows. Read from the registry after the run (the gate's own refusals
    are per delivery), so a first run that delivers nothing can say why."""
    import sqlalchemy as sa

    from renkei.pipelines.schema import messages

    registry = PatientRegistry(engine.store)
    out: dict[str, int] = {}
    for p in engine.config.pipelines:
        if not p.gates.consent:
            continue
        with engine.store.read() as conn:
            pids = [
                r for r in conn.execute(
                    sa.select(messages.c.patient_id).where(messages.c.pipeline == p.name).distinct()
                ).scalars() if r
            ]  # fmt: skip
        persons = set(registry.persons_of_patients(p.source, pids).values()) if pids else set()
        consents = registry.consents(sorted(persons))
        missing = [x for x in persons if x not in consents or not consents[x].allows(p.gates.consent_scope)]
        if missing:
            out[p.name] = len(missing)
    return out


def print_stats(results: dict[str, RunStats], as_json: bool, no_consent: dict[str, int] | None = None) -> None:
    no_consent = no_consent or {}
    if as_json:
        emit_json(
            {
                name: {**{k: getattr(s, k) for k in s.__slots__}, "patients_without_consent": no_consent.get(name, 0)}
                for name, s in results.items()
            }
        )
        return
    for name, s in results.items():
        click.echo(
            f"{name}: {s.received} new messages stored ({s.unchanged} unchanged), {s.queued} queued, "
            f"{s.filtered} filtered, {s.quarantined} quarantined; {s.sent} delivered, {s.failed} to retry, "
            f"{s.dead} dead ({s.seconds:.2f}s)"
        )
        if no_consent.get(name):
            click.echo(
                f"{name}: {no_consent[name]} patient(s) have no consent on record for this pipeline, so nothing of "
                "theirs is delivered. Record it with `renkei patients consent ID --grant --scope all --date "
                "YYYY-MM-DD`, or for many at once `renkei patients import FILE.csv`; then "
                f"`renkei reprocess --all --pipeline {name}`; `renkei patients list` shows who has consent."
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
            results = run_all_once(engine, show_progress=False)
            print_stats(results, as_json, patients_without_consent(engine))
        else:
            if engine.store.url.startswith("postgresql"):  # this process runs the sources; `renkei worker`s the jobs
                from renkei.pipelines.cluster.runner import run_sources  # procrastinate: the 'postgres' extra

                run_sources(engine)
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
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="port of the console (127.0.0.1)"
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="another Host name the console answers to (besides 127.0.0.1, localhost, [::1]); repeatable",
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
            from renkei.bin.cmd_serve import serve_console

            for name, role, password in _demo_users(engine):
                click.echo(f"console user {name} ({role}): password {password}")
            console = engine.config.console
            hosts = [*console.allowed_hosts, *allow_hosts]
            serve_console(engine, console.model_copy(update={"allowed_hosts": hosts}), port)
    finally:
        engine.close()
        engine.store.close()

"""`renkei patients link|unlink|consent|show|list`: the patient registry from the operator's terminal.

One person across systems: `--ehr SOURCE:ID` (that EHR's patient id), `--timeline DEST:GROUP` (their group
on a timeline), `--tag ID` (wristband/card), `--viewer NAME:ID` (the id an EHR viewer's URL needs;
`NAME:FACILITY:ID` for viewers whose URL names the facility). Consent has a state, scope and date.
Every change is audited by the registry. Names appear only in `show` (the operator's own terminal).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import click

from renkei.bin.common import (
    LAST_CONFIG,
    config_data_dir,
    data_dir_of,
    data_option,
    emit_json,
    handle_errors,
    json_option,
)
from renkei.config.loader import LoadedConfig, load_config
from renkei.config.schema import RenkeiConfig
from renkei.connectors.viewer_links import split_value, viewer_system, viewer_url
from renkei.devices.registry import norm_id
from renkei.errors import NotFoundError, RefusedError
from renkei.identifiers import is_patient_id
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.store import Store

VALUE = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII: identifiers are ids, never names
SCOPE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="configuration (default: the one last run with this data folder)",
)


def open_config(config_file: Path | None, data_dir: Path, required: bool) -> LoadedConfig | None:
    """--config, else the last-run config of this data folder; None when neither exists and not required."""
    if config_file is None:
        marker = data_dir / LAST_CONFIG
        if not marker.exists():
            if required:
                raise NotFoundError(f"no configuration has been run with data folder {data_dir}; give --config")
            return None
        config_file = Path(marker.read_text(encoding="utf-8").strip())
    return load_config(config_file)


def check_person(person_id: str) -> str:
    if not is_patient_id(person_id):  # the one rule every intake applies too (renkei.identifiers)
        raise click.BadParameter(
            "a person id is ASCII letters, digits and - _ . : (at most 64), e.g. the EHR patient id",
            param_hint="PERSON",
        )
    return person_id


def _pair(option: str, given: str) -> tuple[str, str]:
    name, sep, value = given.partition(":")
    if not sep or not name or not value:
        raise click.BadParameter(f"expected {option} NAME:VALUE", param_hint=option)
    return name, value


def _check_value(option: str, value: str) -> str:
    if not VALUE.match(value):
        # Not echoed: something that is not an id may be a name.
        raise click.BadParameter(
            "an identifier is printable ASCII without spaces (an id, never a name)", param_hint=option
        )
    return value


def identifiers_from_options(
    ehr: tuple[str, ...],
    timeline: tuple[str, ...],
    tag: tuple[str, ...],
    viewer: tuple[str, ...],
    config: RenkeiConfig | None,
) -> list[tuple[str, str]]:
    """(system, value) pairs from the command line, checked against the configuration when there is one."""
    out: list[tuple[str, str]] = []
    connectors = set(config.connectors) if config else None
    for option, given, prefix in [
        *(("--ehr", g, "ehr") for g in ehr),
        *(("--timeline", g, "timeline") for g in timeline),
    ]:
        name, value = _pair(option, given)
        if connectors is not None and name not in connectors:
            raise click.BadParameter(f"no connector {name!r} in the configuration", param_hint=option)
        out.append((f"{prefix}:{name}", _check_value(option, value)))
    # Tag ids in the form the bedside reads them (upper-case hex, no separators), however they were typed.
    out.extend(("tag", norm_id(_check_value("--tag", t))) for t in tag)
    for given in viewer:
        name, value = _pair("--viewer", given)
        _check_value("--viewer", value)
        if config is not None:
            if name not in config.viewers:
                known = ", ".join(sorted(config.viewers)) or "none configured"
                raise click.BadParameter(
                    f"no viewer {name!r} in the configuration (viewers: {known})", param_hint="--viewer"
                )
            # Build the URL now, so a bad id is refused at link time rather than posted as a broken link.
            try:
                facility, viewer_id = split_value(name, config.viewers[name], value)
                viewer_url(config.viewers[name], viewer_id, facility, name=name)
            except RefusedError as exc:
                raise click.BadParameter(str(exc), param_hint="--viewer") from None
        out.append((viewer_system(name), value))
    return out


def identifier_options(fn: Any) -> Any:
    for decl, meta, text in reversed(
        [
            ("--ehr", "SOURCE:ID", "the patient id in the EHR source connector SOURCE"),
            ("--timeline", "DEST:GROUP", "the patient's group id on timeline connector DEST"),
            ("--tag", "ID", "a wristband / card tag id"),
            ("--viewer", "NAME:ID", "the id viewer NAME's URL needs (NAME:FACILITY:ID if it names the facility)"),
        ]
    ):
        fn = click.option(decl, metavar=meta, multiple=True, help=f"{text} (repeatable)")(fn)
    return fn


@click.group()
def patients() -> None:
    """The patient registry: identifiers across systems and consent."""


@patients.command("link")
@click.argument("person")
@identifier_options
@click.option("--post-card", "post_card", metavar="DEST", default=None, help="post the new viewer link card(s) to DEST")
@config_option
@data_option
@json_option
@handle_errors
def link(
    person: str,
    ehr: tuple[str, ...],
    timeline: tuple[str, ...],
    tag: tuple[str, ...],
    viewer: tuple[str, ...],
    post_card: str | None,
    config_file: Path | None,
    data: str | None,
    as_json: bool,
) -> None:
    """Link identifiers to PERSON (an identifier already linked to someone else is refused)."""
    check_person(person)
    data_dir = config_data_dir(data, config_file)
    loaded = open_config(config_file, data_dir, required=post_card is not None)
    pairs = identifiers_from_options(ehr, timeline, tag, viewer, loaded.config if loaded else None)
    if not pairs:
        raise click.UsageError("give at least one of --ehr, --timeline, --tag, --viewer")
    if post_card is not None and not viewer:
        raise click.UsageError("--post-card posts viewer link cards: give --viewer too")
    store = Store.in_data_dir(data_dir)
    try:
        registry = PatientRegistry(store)
        for system, value in pairs:
            registry.link(person, system, value)
        posted: list[dict[str, Any]] = []
        if post_card is not None:
            assert loaded is not None
            posted = _post_cards(loaded, store, data_dir, person, post_card, viewer)
        result = {"person_id": person, "linked": [{"system": s, "value": v} for s, v in pairs], "cards": posted}
        result["identifiers"] = registry.identifiers(person)
    finally:
        store.close()
    if as_json:
        emit_json(result)
        return
    for s, v in pairs:
        click.echo(f"linked {s} {v} -> {person}")
    for c in posted:
        click.echo(f"link card for {c['viewer']} posted to {c['destination']} (message {c['message_id']})")


def _post_cards(
    loaded: LoadedConfig, store: Store, data_dir: Path, person: str, dest: str, viewer: tuple[str, ...]
) -> list[dict[str, Any]]:
    from renkei.pipelines.engine import Engine

    engine = Engine(loaded, store, data_dir)
    try:
        names = dict.fromkeys(_pair("--viewer", v)[0] for v in viewer)
        return [
            {"viewer": n, "destination": dest, "message_id": engine.link_card(dest, person, n)} for n in names
        ]
    finally:
        engine.close()


@patients.command("unlink")
@click.argument("person")
@identifier_options
@data_option
@json_option
@handle_errors
def unlink(
    person: str,
    ehr: tuple[str, ...],
    timeline: tuple[str, ...],
    tag: tuple[str, ...],
    viewer: tuple[str, ...],
    data: str | None,
    as_json: bool,
) -> None:
    """Remove identifiers from PERSON."""
    check_person(person)
    pairs = identifiers_from_options(ehr, timeline, tag, viewer, None)
    if not pairs:
        raise click.UsageError("give at least one of --ehr, --timeline, --tag, --viewer")
    store = Store.in_data_dir(data_dir_of(data))
    try:
        registry = PatientRegistry(store)
        current = registry.identifiers(person)
        missing = [f"{s} {v}" for s, v in pairs if v not in current.get(s, [])]
        if missing:
            raise NotFoundError(f"not linked to {person}: {', '.join(missing)}")
        for system, value in pairs:
            registry.unlink(person, system, value)
        remaining = registry.identifiers(person)
    finally:
        store.close()
    if as_json:
        emit_json(
            {"person_id": person, "unlinked": [{"system": s, "value": v} for s, v in pairs], "identifiers": remaining}
        )
        return
    for s, v in pairs:
        click.echo(f"unlinked {s} {v} from {person}")


@patients.command("consent")
@click.argument("person")
@click.option("--grant", is_flag=True, help="the patient consented")
@click.option("--withdraw", is_flag=True, help="the patient withdrew consent (nothing flows)")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="SCOPE",
    help="all, or purposes (timeline, external) and data categories (labs, vitals, notes…); repeatable",
)
@click.option("--date", "on", required=True, metavar="YYYY-MM-DD", help="the date the patient consented or withdrew")
@click.option("--note", default="", help="e.g. where the signed form is kept (no patient data)")
@data_option
@json_option
@handle_errors
def consent(
    person: str,
    grant: bool,
    withdraw: bool,
    scopes: tuple[str, ...],
    on: str,
    note: str,
    data: str | None,
    as_json: bool,
) -> None:
    """Record PERSON's consent (--grant --scope …) or its withdrawal (--withdraw)."""
    check_person(person)
    if grant == withdraw:
        raise click.UsageError("give --grant or --withdraw" if not grant else "--grant and --withdraw contradict")
    state = "granted" if grant else "withdrawn"
    try:
        day = date.fromisoformat(on)
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD", param_hint="--date") from None
    if day > date.today():
        raise click.BadParameter("a consent date cannot be in the future", param_hint="--date")
    scope = [s.strip() for given in scopes for s in given.split(",") if s.strip()]
    for s in scope:
        if not SCOPE.match(s):
            raise click.BadParameter(f"{s!r} is not a scope (lower-case word, e.g. timeline)", param_hint="--scope")
    if state == "granted" and not scope:
        raise click.UsageError("--grant needs --scope (all, timeline, lab, vitals…)")
    store = Store.in_data_dir(data_dir_of(data))
    try:
        c = PatientRegistry(store).set_consent(person, state == "granted", scope or ["all"], day, note)
    finally:
        store.close()
    out = {"person_id": person, "state": c.state, "scope": list(c.scope), "consented_on": c.consented_on}
    if as_json:
        emit_json({**out, "recorded_by": c.recorded_by})
        return
    click.echo(f"{person}: consent {c.state} ({', '.join(c.scope)}) on {c.consented_on}")


def _consent_dict(c: Any) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"state": c.state, "scope": list(c.scope), "consented_on": c.consented_on, "recorded_by": c.recorded_by}


@patients.command("show")
@click.argument("person")
@data_option
@json_option
@handle_errors
def show(person: str, data: str | None, as_json: bool) -> None:
    """PERSON's identifiers, consent and (from the EHR's patient basics) name: this read is audited."""
    check_person(person)
    store = Store.in_data_dir(data_dir_of(data))
    try:
        registry = PatientRegistry(store)
        ids = registry.identifiers(person)
        c = registry.consent(person)
        ehr_ids = [v for s, values in ids.items() if s.startswith("ehr:") for v in values]
        basics = store.patient_basics([person, *ehr_ids])
        if not ids and c is None and not basics:
            raise NotFoundError(f"no person {person} in the registry")
        store.audit([AuditEntry("patient.show", person, f"person:{person}", "identifiers, consent, basics")])
    finally:
        store.close()
    patient = next((basics[p] for p in [person, *ehr_ids] if p in basics), None)
    out = {
        "person_id": person,
        "identifiers": ids,
        "consent": _consent_dict(c),
        "patient": {k: patient.get(k, "") for k in ("name_kanji", "name_kana", "birth_date", "sex")}
        if patient
        else None,
    }
    if as_json:
        emit_json(out)
        return
    click.echo(f"person {person}")
    if patient:
        click.echo(f"  name: {patient.get('name_kanji', '')} ({patient.get('name_kana', '')})")
        click.echo(f"  born: {patient.get('birth_date', '')}  sex: {patient.get('sex', '')}")
    if c is None:
        click.echo("  consent: none on record (nothing flows)")
    else:
        click.echo(f"  consent: {c.state} ({', '.join(c.scope)}) on {c.consented_on}, recorded by {c.recorded_by}")
    for system, values in ids.items():
        click.echo(f"  {system}: {', '.join(values)}")


@patients.command("list")
@data_option
@json_option
@handle_errors
def list_persons(data: str | None, as_json: bool) -> None:
    """Every person in the registry with their linked systems and consent state (ids only, no names)."""
    store = Store.in_data_dir(data_dir_of(data))
    try:
        registry = PatientRegistry(store)
        persons = registry.persons()
        consents = registry.consents(persons)
        items = [
            {"person_id": p, "systems": sorted(registry.identifiers(p)), "consent": _consent_dict(consents.get(p))}
            for p in persons
        ]
    finally:
        store.close()
    if as_json:
        emit_json(items)
        return
    for it in items:
        c = it["consent"]
        state = f"{c['state']} ({','.join(c['scope'])}) {c['consented_on']}" if c else "no consent"
        click.echo(f"{it['person_id']:<16} {state:<36} {' '.join(it['systems'])}")


from renkei.bin.cmd_patients_import import import_csv  # noqa: E402  (registered here, defined there)

patients.add_command(import_csv)

from renkei.bin.cmd_patients_team import team  # noqa: E402  (registered here, defined there)

patients.add_command(team)

"""`renkei patients import FILE.csv`: consent and links for many patients at once, with --dry-run.

One row per person; columns (header row required, any order): `person`, `consent` (granted, withdrawn or
empty), `scope` (e.g. `all` or `timeline;lab`), `date` (YYYY-MM-DD), `links` (space-separated
`ehr:SOURCE:ID`, `timeline:DEST:GROUP`, `tag:ID`, `viewer:NAME:ID`), `note` (optional). UTF-8 (with or
without BOM) or Shift_JIS (Excel).

All or nothing: every row is checked first; a bad row is reported by its line and reason (never its
values: they are patient identifiers) and nothing is written. Every change is audited by the registry.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import click

from renkei.bin.cmd_patients import SCOPE, config_option, identifiers_from_options, open_config
from renkei.bin.common import config_data_dir, data_option, emit_json, handle_errors, json_option
from renkei.errors import InputError
from renkei.identifiers import PATIENT_ID_RULE, is_patient_id
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.store import Store

COLUMNS = ("person", "consent", "scope", "date", "links", "note")
REQUIRED = ("person",)


@dataclass(slots=True)
class Row:
    line: int
    person: str
    consent: str  # "granted", "withdrawn" or "" (links only)
    scope: list[str]
    day: date | None
    links: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""


def _decode(raw: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{path}: neither UTF-8 nor Shift_JIS")


def _links(text: str, config: Any) -> list[tuple[str, str]]:
    by_kind: dict[str, list[str]] = {"ehr": [], "timeline": [], "tag": [], "viewer": []}
    for token in text.split():
        kind, sep, rest = token.partition(":")
        if not sep or kind not in by_kind or not rest:
            raise ValueError("links: each is ehr:SOURCE:ID, timeline:DEST:GROUP, tag:ID or viewer:NAME:ID")
        by_kind[kind].append(rest)
    try:
        return identifiers_from_options(
            tuple(by_kind["ehr"]), tuple(by_kind["timeline"]), tuple(by_kind["tag"]), tuple(by_kind["viewer"]), config
        )
    except click.BadParameter as exc:  # its message names the option and the rule, never the value
        raise ValueError(f"links: {exc.format_message()}") from None


def _row(line: int, cells: dict[str, str], config: Any) -> Row:
    person = cells.get("person", "").strip()
    if not is_patient_id(person):  # the one rule every intake and command applies
        raise ValueError(f"person: {PATIENT_ID_RULE}")
    consent = cells.get("consent", "").strip().lower()
    if consent not in ("", "granted", "withdrawn"):
        raise ValueError("consent: granted, withdrawn or empty")
    scope = [s.strip() for s in cells.get("scope", "").replace(",", ";").split(";") if s.strip()]
    if any(not SCOPE.match(s) for s in scope):
        raise ValueError("scope: lower-case words separated by ; (e.g. all, timeline;lab)")
    day = None
    if consent:
        if consent == "granted" and not scope:
            raise ValueError("scope: a granted consent needs a scope (all, timeline, lab, vitals…)")
        try:
            day = date.fromisoformat(cells.get("date", "").strip())
        except ValueError:
            raise ValueError("date: expected YYYY-MM-DD") from None
        if day > date.today():
            raise ValueError("date: a consent date cannot be in the future")
    elif scope or cells.get("date", "").strip():
        raise ValueError("scope/date without consent: give consent granted or withdrawn")
    links = _links(cells.get("links", ""), config)
    if not consent and not links:
        raise ValueError("nothing to import: give consent or links")
    return Row(line, person, consent, scope or ["all"], day, links, cells.get("note", "").strip())


def read_rows(path: Path, config: Any) -> tuple[list[Row], list[dict[str, Any]]]:
    """(good rows, errors as {"line", "error"}); errors never carry the row's values."""
    reader = csv.DictReader(io.StringIO(_decode(path.read_bytes(), path), newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in REQUIRED if c not in header]
    if missing or unknown:
        raise InputError(
            f"{path} line 1: the header needs {', '.join(REQUIRED)} and may have {', '.join(COLUMNS)}"
            + (f"; unknown column(s) {', '.join(unknown)}" if unknown else "")
        )
    reader.fieldnames = header
    rows: list[Row] = []
    errors: list[dict[str, Any]] = []
    seen_person: dict[str, int] = {}
    seen_link: dict[tuple[str, str], tuple[str, int]] = {}
    for cells in reader:
        line = reader.line_num
        if None in cells:
            errors.append({"line": line, "error": "more cells than header columns"})
            continue
        try:
            row = _row(line, {k: v or "" for k, v in cells.items()}, config)
        except ValueError as exc:
            errors.append({"line": line, "error": str(exc)})
            continue
        if row.person in seen_person:
            errors.append({"line": line, "error": f"person already in line {seen_person[row.person]}"})
            continue
        seen_person[row.person] = line
        clash = next((seen_link[k] for k in row.links if k in seen_link and seen_link[k][0] != row.person), None)
        if clash:
            errors.append({"line": line, "error": f"links: an identifier of line {clash[1]} (another person)"})
            continue
        seen_link.update({k: (row.person, line) for k in row.links})
        rows.append(row)
    return rows, errors


def _registry_conflicts(registry: PatientRegistry, rows: list[Row]) -> list[dict[str, Any]]:
    errors = []
    for row in rows:
        for system, value in row.links:
            owner = registry.person_for(system, value)
            if owner is not None and owner != row.person:
                errors.append({"line": row.line, "error": f"links: a {system} identifier is linked to another person"})
                break
    return errors


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="check every row and report, change nothing")
@config_option
@data_option
@json_option
@handle_errors
def import_csv(file: Path, dry_run: bool, config_file: Path | None, data: str | None, as_json: bool) -> None:
    """Record consent and links for every row of FILE (CSV); all or nothing. Exit 2 if a row is bad."""
    data_dir = config_data_dir(data, config_file)
    loaded = open_config(config_file, data_dir, required=False)
    rows, errors = read_rows(file, loaded.config if loaded else None)
    store = Store.in_data_dir(data_dir)
    try:
        registry = PatientRegistry(store)
        errors += _registry_conflicts(registry, rows)
        errors.sort(key=lambda e: e["line"])
        applied = not errors and not dry_run
        if applied:
            for row in rows:
                for system, value in row.links:
                    registry.link(row.person, system, value)
                if row.consent:
                    assert row.day is not None
                    registry.set_consent(row.person, row.consent == "granted", row.scope, row.day, row.note)
    finally:
        store.close()
    bad_lines = {e["line"] for e in errors}
    good_lines = {r.line for r in rows}
    report = {
        "file": str(file),
        "rows": len(good_lines | bad_lines),
        "valid_rows": len(good_lines - bad_lines),
        "errors": errors,
        "dry_run": dry_run,
        "applied": applied,
        "consents": sum(1 for r in rows if r.consent) if applied else 0,
        "links": sum(len(r.links) for r in rows) if applied else 0,
    }
    if as_json:
        emit_json(report)
    else:
        for e in errors:
            click.echo(f"{file} line {e['line']}: {e['error']}", err=True)
        if applied:
            click.echo(f"imported {len(rows)} row(s): {report['consents']} consent(s), {report['links']} link(s)")
        elif errors:
            click.echo(f"{len(errors)} bad row(s): nothing imported (fix them and run again)", err=True)
        else:
            click.echo(f"dry run: {len(rows)} row(s) would be imported; nothing changed")
    if errors:
        raise SystemExit(2)

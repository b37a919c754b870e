"""`renkei mapping …`: run the mapping specs' fixtures, apply a mapping to a JSON file, list specs.

    renkei mapping test [NAME] [--json] [--overlay DIR]   exit 0 all pass, 1 a case failed, 2 broken spec
    renkei mapping apply NAME INPUT.json [--at DATE] [--context JSON]
    renkei mapping list [--json]

Output here may show patient values (diffs, offending input values): it goes to the operator's own
terminal only and is never logged.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from renkei.mappings import (
    MappingError,
    MappingNotFoundError,
    MappingSpecError,
    MappingValueError,
    library,
    load_mapping,
    run_fixtures,
)

_OVERLAY = click.option(
    "--overlay",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="RENKEI_MAPPINGS_OVERLAY",
    help="Site overlay directory whose specs and code tables replace the shipped ones.",
)


@click.group()
def mapping() -> None:
    """Level 4 field mappings: test, apply and list the declarative specs."""


def _spec_error(exc: MappingSpecError | MappingNotFoundError, as_json: bool) -> None:
    if as_json:
        errors = getattr(exc, "errors", [])
        click.echo(json.dumps({"error": str(exc), "problems": [list(e) for e in errors]}, ensure_ascii=False))
    else:
        click.echo(f"error: {exc}", err=True)
    sys.exit(2)


@mapping.command("test")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@_OVERLAY
def test_cmd(name: str | None, as_json: bool, overlay: Path | None) -> None:
    """Run every spec's fixtures (or NAME's); show a diff naming the fields on failure."""
    try:
        results = run_fixtures(name, overlay=overlay)
    except (MappingSpecError, MappingNotFoundError) as exc:
        _spec_error(exc, as_json)
        return
    failed = [r for r in results if not r.passed]
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=2))
    else:
        for r in results:
            click.echo(f"{'PASS' if r.passed else 'FAIL'}  {r.mapping} / {r.case}")
            if r.passed:
                continue
            if r.fields:
                click.echo(f"      fields: {', '.join(r.fields)}")
            if r.error:
                click.echo(f"      {r.error}")
            if r.diff:
                click.echo("".join(f"      {line}" for line in r.diff.splitlines(keepends=True)).rstrip())
        click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


@mapping.command("apply")
@click.argument("name")
@click.argument("input_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--at", "at", help="Date for age_at (default: today), ISO 8601.")
@click.option("--context", "context_json", help='Extra context as a JSON object, e.g. \'{"at": "2024-04-01"}\'.')
@_OVERLAY
def apply_cmd(name: str, input_file: Path, at: str | None, context_json: str | None, overlay: Path | None) -> None:
    """Apply mapping NAME to the record(s) in INPUT_FILE (JSON) and print the result as JSON."""
    try:
        data = json.loads(input_file.read_text(encoding="utf-8"))
        context: dict[str, Any] = json.loads(context_json) if context_json else {}
    except ValueError as exc:
        click.echo(f"error: not valid JSON: {exc}", err=True)
        sys.exit(2)
    if not isinstance(context, dict):
        click.echo("error: --context must be a JSON object", err=True)
        sys.exit(2)
    context.setdefault("at", at or date.today().isoformat())
    try:
        result = load_mapping(name, overlay).apply(data, context)
    except (MappingSpecError, MappingNotFoundError) as exc:
        _spec_error(exc, False)
        return
    except MappingValueError as exc:
        click.echo(f"error: {exc.operator_text()}", err=True)  # operator's terminal: the value is shown
        sys.exit(2)
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))


@mapping.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@_OVERLAY
def list_cmd(as_json: bool, overlay: Path | None) -> None:
    """List the mapping specs (shipped and overlay) with their description and target schema."""
    lib = library(overlay)
    rows = []
    for name in lib.names():
        try:
            m = lib.load(name)
            rows.append({"name": name, "path": str(m.path), "target": m.target_schema, "description": m.description})
        except MappingError as exc:
            rows.append({"name": name, "path": "", "target": "", "description": f"BROKEN: {exc}"})
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']:<28} {row['target']:<40} {row['description']}")

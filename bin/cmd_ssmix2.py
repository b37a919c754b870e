"""`renkei ssmix2 …`: generate a synthetic storage, check a storage, read it as canonical records."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("ssmix2")
def ssmix2() -> None:
    """SS-MIX2 standardized storage tools."""


@ssmix2.command("generate")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--patients", type=click.IntRange(min=1), default=100, show_default=True)
@click.option(
    "--labs", "labs", type=click.IntRange(min=0), default=3, show_default=True, help="OML-11 files per patient"
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print a JSON summary")
def generate_cmd(root: Path, patients: int, labs: int, seed: int, as_json: bool) -> None:
    """Write a deterministic synthetic storage under ROOT (invented patients, real codes)."""
    from renkei.connectors.ssmix2.generator import generate

    written = generate(root, patients=patients, labs_per_patient=labs, seed=seed)
    summary = {"root": str(root), "files": len(written), "records": sum(len(w.records) for w in written)}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"wrote {summary['files']} files ({summary['records']} records) under {root}")

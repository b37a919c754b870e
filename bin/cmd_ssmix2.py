"""`renkei ssmix2 …`: generate a synthetic storage, check a storage, read it as canonical records."""

from __future__ import annotations

import json
from pathlib import Path

import click

from renkei.bin.common import data_dir_of, data_option


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
@click.option(
    "--types",
    default="",
    metavar="all|TYPE,…",
    help="write these standard data types (e.g. all, or ADT-00,OMP-01,OML-11); default: ADT-00 and OML-11 only",
)
@click.option("--conditions", is_flag=True, help="add condition-flag histories: updates (_2 + new _1), deletes (_0)")
@click.option("--extended", is_flag=True, help="add extended storage: ORU^R30 vitals, CDA and PDF documents")
@click.option("--json", "as_json", is_flag=True, help="print a JSON summary")
def generate_cmd(
    root: Path, patients: int, labs: int, seed: int, types: str, conditions: bool, extended: bool, as_json: bool
) -> None:
    """Write a deterministic synthetic storage under ROOT (invented patients, real codes)."""
    from renkei.connectors.ssmix2.generator import ALL_TYPES, generate, generate_full

    if types or conditions or extended:
        wanted = ALL_TYPES if types in ("", "all") else tuple(t.strip() for t in types.split(",") if t.strip())
        unknown = sorted(set(wanted) - set(ALL_TYPES))
        if unknown:
            raise click.BadParameter(f"unknown data types {', '.join(unknown)}", param_hint="--types")
        written = generate_full(
            root, patients, seed, wanted, labs_per_patient=labs, conditions=conditions, extended=extended
        )
    else:  # the historical small storage (patient basics and lab results), byte-identical for a seed
        written = generate(root, patients=patients, labs_per_patient=labs, seed=seed)
    summary = {"root": str(root), "files": len(written), "records": sum(len(w.records) for w in written)}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"wrote {summary['files']} files ({summary['records']} records) under {root}")


def _root(root: Path) -> Path:
    if not root.is_dir():
        raise click.BadParameter(f"{root} is not a folder", param_hint="ROOT")
    return root


@ssmix2.command("check")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="one JSON document: counts and every defect")
def check_cmd(root: Path, as_json: bool) -> None:
    """Parse every file under ROOT and report every defect. Exit 0 only when there is none."""
    from renkei.connectors.ssmix2 import inspect_storage

    root = _root(root)
    by_type: dict[str, dict[str, int]] = {}
    defects: list[dict[str, object]] = []
    files = quarantined = 0
    for report in inspect_storage(root):
        files += 1
        fatal = report.fatal
        quarantined += fatal is not None
        counts = by_type.setdefault(report.data_type or "?", {"files": 0, "records": 0, "quarantined": 0})
        counts["files"] += 1
        counts["records"] += 0 if fatal else len(report.records)
        counts["quarantined"] += fatal is not None
        for d in report.defects:
            defects.append({**d.to_dict(), "fatal": d is fatal or d.kind == "patient_mismatch"})
            if not as_json:
                click.echo(f"{'QUARANTINE' if d is fatal else 'warning   '} {d}")
    summary = {
        "root": str(root),
        "files": files,
        "quarantined": quarantined,
        "by_data_type": dict(sorted(by_type.items())),
        "defects": defects,
    }
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=1))
    else:
        for dtype, counts in summary["by_data_type"].items():
            click.echo(
                f"{dtype:<8} {counts['files']:>7} files {counts['records']:>8} records "
                f"{counts['quarantined']:>5} quarantined"
            )
        click.echo(f"{files} files, {quarantined} quarantined, {len(defects)} defects")
    raise SystemExit(1 if defects else 0)


def _patient_id(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from renkei.identifiers import PATIENT_ID_RULE, is_patient_id

    if value and not is_patient_id(value):  # the one patient-id rule: never a path out of the storage root
        raise click.BadParameter(f"a patient id is {PATIENT_ID_RULE}", param_hint="--patient")
    return value


@ssmix2.command("read")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--patient", "patient_id", default="", callback=_patient_id, help="only this patient's folder")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per record per line")
@data_option
def read_cmd(root: Path, patient_id: str, as_json: bool, data: str | None) -> None:
    """Canonical records of every usable file under ROOT (quarantined files are reported on stderr).

    The output is patient data: the read is recorded in the data folder's audit log."""
    from renkei.connectors.ssmix2 import inspect_storage
    from renkei.pipelines.audit import AuditEntry
    from renkei.pipelines.store import Store

    root = _root(root)
    store = Store.in_data_dir(data_dir_of(data))
    try:
        store.audit([AuditEntry("ssmix2.read", patient_id, f"storage:{root.resolve()}", "--json" if as_json else "")])
    finally:
        store.close()
    for report in inspect_storage(root, patient_id):
        fatal = report.fatal
        if fatal is not None:
            click.echo(f"quarantined: {fatal}", err=True)
            continue
        for record in report.records:
            d = record.to_dict()
            if as_json:
                click.echo(json.dumps(d, ensure_ascii=False))
            else:
                click.echo(f"{d['kind']:<11} {d['record_key']}  [{d['status']}]  {d['source']}")

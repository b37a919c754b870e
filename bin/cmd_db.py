"""`renkei db upgrade|current` (schema migrations) and `renkei backup DEST` / `renkei restore SRC`."""

from __future__ import annotations

from pathlib import Path

import click

from renkei.bin.common import data_dir_of, data_option, emit_json, handle_errors, json_option
from renkei.errors import NotFoundError


def _data_folder(data: str | None) -> Path:
    data_dir = data_dir_of(data)
    from renkei.pipelines.migrations.catalog import databases

    if not databases(data_dir):
        raise NotFoundError(f"no renkei data in {data_dir} (give --data, or set RENKEI_DATA / RENKEI_STORE_URL)")
    return data_dir


@click.group()
def db() -> None:
    """Schema versions of the data folder's databases (Alembic migrations)."""


@db.command("current")
@data_option
@json_option
@handle_errors
def db_current(data: str | None, as_json: bool) -> None:
    """Show each database's schema revision and whether it is up to date."""
    from renkei.pipelines.migrations.runner import status_all

    statuses = status_all(_data_folder(data))
    if as_json:
        emit_json([{"database": s.database.name, "kind": s.database.schema.kind, "revision": s.found,
                    "head": s.head, "state": s.state} for s in statuses])  # fmt: skip
        return
    for s in statuses:
        click.echo(f"{s.database.name}: {s.found or '(none)'} (head {s.head}) — {s.advice}")


@db.command("upgrade")
@data_option
@json_option
@handle_errors
def db_upgrade(data: str | None, as_json: bool) -> None:
    """Upgrade every database of the data folder to this renkei's schema (a no-op when already there)."""
    from renkei.pipelines.migrations.runner import upgrade_all

    results = upgrade_all(_data_folder(data))
    jobs_created = _job_tables(_data_folder(data))
    if jobs_created and not as_json:
        click.echo("store: created procrastinate's job tables (renkei worker)")
    if as_json:
        emit_json([{"database": b.database.name, "from": b.found, "to": a.found, "changed": b.found != a.found}
                   for b, a in results])  # fmt: skip
        return
    for before, after in results:
        if before.state == "current":
            click.echo(f"{before.database.name}: already at {after.found}")
        else:
            click.echo(f"{before.database.name}: upgraded {before.found or '(0.1.0, no version)'} -> {after.found}")


def _job_tables(data_dir: Path) -> bool:
    """On a PostgreSQL store: procrastinate's tables, for `renkei worker` (pipelines/cluster/schema.py)."""
    from renkei.pipelines.store import Store

    store = Store.in_data_dir(data_dir)
    try:
        if store.url.startswith("postgresql"):
            from renkei.pipelines.cluster.schema import ensure_job_tables

            return ensure_job_tables(store)
        return False
    finally:
        store.close()


@click.command()
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@data_option
@json_option
@handle_errors
def backup(dest: Path, data: str | None, as_json: bool) -> None:
    """Copy the data folder (every database, consistently, while the service runs) into the new folder DEST."""
    from renkei.pipelines.backup import backup as run_backup

    manifest = run_backup(data_dir_of(data), dest)
    if as_json:
        emit_json(manifest)
        return
    for entry in manifest["databases"]:
        click.echo(f"{entry['file']}: copied at schema revision {entry['revision']}")
    click.echo(f"backup written to {dest}")


@click.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@data_option
@json_option
@handle_errors
def restore(src: Path, data: str | None, as_json: bool) -> None:
    """Restore the backup SRC into the data folder (which must hold no renkei data yet)."""
    from renkei.pipelines.backup import restore as run_restore

    data_dir = data_dir_of(data)
    manifest = run_restore(src, data_dir)
    if as_json:
        emit_json(manifest)
        return
    for entry in manifest["databases"]:
        click.echo(f"{entry['file']}: restored")
    click.echo(f"restored the backup of {manifest['created_at']} into {data_dir}")
    click.echo("check it: renkei db current · renkei audit verify")

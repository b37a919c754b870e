"""`renkei prune`: drop the content of finished messages past their pipeline's retention (see
pipelines/retention.py); the service does the same once a day."""

from __future__ import annotations

from pathlib import Path

import click

from renkei.bin.common import (
    config_data_dir,
    data_option,
    emit_json,
    engine_for,
    handle_errors,
    json_option,
    open_store,
)


@click.command()
@click.option("--dry-run", is_flag=True, help="count what would be pruned; change nothing")
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(min=0),
    default=None,
    metavar="DAYS",
    help="for this run, prune every finished message last changed more than DAYS ago (all pipelines)",
)
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@data_option
@json_option
@handle_errors
def prune(dry_run: bool, older_than: float | None, config_file: Path | None, data: str | None, as_json: bool) -> None:
    """Drop raw input, parsed records and delivered payloads of SENT and FILTERED messages older than each
    pipeline's `retention:` (default 30 days). Ids, states, receipts and the audit log are kept; messages
    that may still be reprocessed (QUARANTINED, DEAD, ERROR, QUEUED, AWAITING_APPROVAL) are never touched."""
    from renkei.pipelines.retention import prune as run_prune

    store, _ = open_store(data, config_data_dir(data, config_file))
    engine = engine_for(store, data, config_file)
    try:
        retention = {p.name: p.retention for p in engine.config.pipelines}
        report = run_prune(store, retention, older_than_days=older_than, dry_run=dry_run)
    finally:
        engine.close()
    out = {
        "dry_run": report.dry_run,
        "messages": report.messages,
        "raw_messages": report.raw_messages,
        "raw_bytes": report.raw_bytes,
        "payload_messages": report.payload_messages,
        "deliveries": report.deliveries,
        "per_pipeline": report.per_pipeline,
        "vacuumed": report.vacuumed,
        "file_bytes_before": report.file_bytes_before,
        "file_bytes_after": report.file_bytes_after,
        "seconds": round(report.seconds, 2),
    }
    if as_json:
        emit_json(out)
        return
    verb = "would prune" if dry_run else "pruned"
    click.echo(f"{verb}: {report.summary()}")
    for name, n in sorted(report.per_pipeline.items()):
        click.echo(f"  pipeline {name}: {n} message(s)")
    if report.vacuumed:
        click.echo(f"store file: {report.file_bytes_before} -> {report.file_bytes_after} bytes (VACUUM)")

"""`renkei digest send`: today's digests of unread posts and waiting approvals (pipelines/digests.py).

The service sends them once a day at `notifications.send_at`; this command sends them now (each person
and channel still at most once a day) or, with --dry-run, says who would get what (numbers only).
"""

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


@click.group()
def digest() -> None:
    """Digests by e-mail and Matrix notice: how many posts and approvals wait for each person."""


@digest.command("send")
@click.option("--user", "only", default=None, help="only this person")
@click.option("--dry-run", is_flag=True, help="say who would get what; send nothing")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@data_option
@json_option
@handle_errors
def send(only: str | None, dry_run: bool, config_file: Path | None, data: str | None, as_json: bool) -> None:
    """Send today's digests (site time) to everyone with something waiting and a contact."""
    from renkei.pipelines.digests import send_digests

    store, _ = open_store(data, config_data_dir(data, config_file))
    engine = engine_for(store, data, config_file)
    try:
        report, texts = send_digests(engine, only=only, dry_run=dry_run)
    finally:
        engine.close()
    out = {
        "dry_run": dry_run,
        "sent": [{"user": u, "channel": c} for u, c in report.sent],
        "would_send": [{"user": d.user.name, **d.counts()} for d, _, _ in texts],
        "skipped": [{"user": u, "channel": c, "why": w} for u, c, w in report.skipped],
        "failed": [{"user": u, "channel": c, "reason": r} for u, c, r in report.failed],
    }
    if as_json:
        emit_json(out)
    else:
        for u, c in report.sent:
            click.echo(f"sent: {u} ({c})")
        for row in out["would_send"]:
            click.echo(f"would send: {row['user']}: {row['unread']} unread, {row['waiting']} awaiting approval")
        for u, c, r in report.failed:
            click.echo(f"failed: {u} ({c}): {r}", err=True)
    if report.failed:
        raise SystemExit(1)

"""Operator commands on the store: status, messages list|show, reprocess, audit verify|anchor."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from renkei.bin.common import (
    EXIT_REFUSED,
    config_data_dir,
    data_option,
    emit_json,
    engine_for,
    handle_errors,
    iso,
    json_option,
    open_store,
)
from renkei.errors import NotFoundError, RefusedError
from renkei.pipelines import audit as audit_chain
from renkei.pipelines import audit_anchors
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.schema import MessageState
from renkei.pipelines.store.operators import pruned_note


@click.command()
@data_option
@json_option
@handle_errors
def status(data: str | None, as_json: bool) -> None:
    """Message counts per pipeline and state, delivery counts per destination."""
    store, data_dir = open_store(data)
    report = {"data_dir": str(data_dir), "messages": store.counts(), "deliveries": store.delivery_counts()}
    if as_json:
        emit_json(report)
        return
    click.echo(f"data folder: {data_dir}")
    for pipeline, states in sorted(report["messages"].items()):
        click.echo(f"pipeline {pipeline}: " + ", ".join(f"{s} {n}" for s, n in sorted(states.items())))
    for dest, states in sorted(report["deliveries"].items()):
        click.echo(f"destination {dest}: " + ", ".join(f"{s} {n}" for s, n in sorted(states.items())))


@click.group()
def messages() -> None:
    """List and inspect stored messages."""


@messages.command("list")
@click.option("--pipeline", default=None)
@click.option("--state", type=click.Choice([s.value for s in MessageState]), default=None)
@click.option("--patient", default=None, help="patient id")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="at most this many")
@data_option
@json_option
@handle_errors
def list_messages(
    pipeline: str | None, state: str | None, patient: str | None, limit: int, data: str | None, as_json: bool
) -> None:
    """Newest first. Shows ids, states and reasons, never message content."""
    store, _ = open_store(data)
    rows = store.list_messages(pipeline=pipeline, state=state, patient_id=patient, limit=limit + 1)
    if len(rows) > limit:  # said on stderr, so --json output stays a plain list
        rows = rows[:limit]
        click.echo(f"(showing the newest {limit}; there are more: give --limit N)", err=True)
    items = [
        {
            "id": r.id,
            "pipeline": r.pipeline,
            "state": r.state,
            "patient_id": r.patient_id,
            "data_type": r.data_type,
            "source_key": r.source_key,
            "received_at": iso(r.received_at),
            "reason": r.reason,
            "warnings": r.warnings,
        }
        for r in rows
    ]
    if as_json:
        emit_json(items)
        return
    for m in items:
        line = f"{m['id']:>7} {m['state']:<12} {m['pipeline']:<20} {m['patient_id']:<12} {m['data_type']:<8}"
        line += f" {m['source_key']}"
        click.echo(line + (f"\n          reason: {m['reason']}" if m["reason"] else ""))


@messages.command("show")
@click.argument("message_id", type=int)
@click.option("--raw", is_flag=True, help="also print the raw input (patient data: audited)")
@data_option
@json_option
@handle_errors
def show_message(message_id: int, raw: bool, data: str | None, as_json: bool) -> None:
    """One message with its stored stages and deliveries."""
    store, _ = open_store(data)
    msg, dels = store.get_message(message_id)
    if msg is None:
        raise NotFoundError(f"no message {message_id}")
    store.audit([AuditEntry("message.show", msg.patient_id, f"message:{message_id}", "raw" if raw else "")])
    out = {
        "id": msg.id,
        "pipeline": msg.pipeline,
        "source": msg.source,
        "source_key": msg.source_key,
        "state": msg.state,
        "reason": msg.reason,
        "warnings": msg.warnings,
        "patient_id": msg.patient_id,
        "data_type": msg.data_type,
        "received_at": iso(msg.received_at),
        "updated_at": iso(msg.updated_at),
        "raw_bytes": len(msg.raw),
        "records": msg.records,
        "deliveries": [
            {
                "id": d.id,
                "destination": d.destination,
                "state": d.state,
                "attempts": d.attempts,
                "next_attempt_at": iso(d.next_attempt_at),
                "last_error": d.last_error,
                "receipt": d.receipt,
                "payload": d.payload,
            }
            for d in dels
        ],
    }
    out["documents"] = document_files(msg)
    if msg.pruned:  # retention dropped the content: say what and when instead of an empty raw view
        note = pruned_note(msg.pruned, msg.pruned_at)
        out["pruned"] = {"what": msg.pruned.split(","), "at": iso(msg.pruned_at), "note": note}
    elif raw:
        out["raw"] = msg.raw.decode("iso2022_jp", errors="backslashreplace").replace("\r", "\n")
    emit_json(out) if as_json else click.echo(_plain(out))


def document_files(msg) -> list[dict]:
    """The document files a message holds (pipelines/documents.py: kept once, as its raw input), or a note
    that retention dropped them."""
    if "documents" in (msg.pruned or "").split(","):
        when = iso(msg.pruned_at)
        return [{"pruned_at": when, "note": f"document files: pruned with the raw input on {when} (retention); "
                 "no copy is left in the store"}]  # fmt: skip
    out = []
    for r in msg.records or ():
        if r.get("kind") == "document" and (r.get("content") or r.get("url")):
            where = "kept in the raw input" if r.get("content") else f"referenced at {r.get('url')}"
            out.append({
                "title": r.get("title", ""), "media_type": r.get("media_type", ""), "size": r.get("size", 0),
                "sha256": r.get("sha256", ""), "content": r.get("content", ""), "url": r.get("url", ""),
                "note": f"document file: {r.get('title', '')} ({r.get('media_type', '')}, {r.get('size', 0)} bytes, "
                        f"sha256 {r.get('sha256', '')[:16]}…) {where}; retention prunes it with the raw input",
            })  # fmt: skip
    return out


def _plain(out: dict) -> str:
    lines = [f"message {out['id']} [{out['state']}] {out['pipeline']} {out['source_key']}"]
    if out["reason"]:
        lines.append(f"reason: {out['reason']}")
    if "pruned" in out:
        lines.append(out["pruned"]["note"])
    for doc in out.get("documents", ()):
        lines.append(doc["note"])
    for w in out["warnings"]:
        lines.append(f"warning: {w}")
    for d in out["deliveries"]:
        lines.append(
            f"delivery {d['id']} -> {d['destination']}: {d['state']} after {d['attempts']} attempt(s) {d['last_error']}"
        )
        if d["payload"]:
            lines.append("  " + d["payload"].get("text", "").replace("\n", "\n  "))
    if "raw" in out:
        lines.append(out["raw"])
    return "\n".join(lines)


@click.command()
@click.argument("message_ids", nargs=-1, type=click.IntRange(min=1))
@click.option("--pipeline", default=None, help="with --all: the pipeline whose messages to reprocess")
@click.option("--all", "all_failed", is_flag=True, help="every DEAD and QUARANTINED message of --pipeline")
@click.option(
    "--skip",
    is_flag=True,
    help="do not run these DEAD messages again: let the same patient's later messages go past them",
)
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@data_option
@json_option
@handle_errors
def reprocess(
    message_ids: tuple[int, ...],
    pipeline: str | None,
    all_failed: bool,
    skip: bool,
    config_file: Path | None,
    data: str | None,
    as_json: bool,
) -> None:
    """Run messages again: quarantined input is re-read from its source (e.g. a fixed file).

    Ends with a summary: how many messages ended in each state. A DEAD delivery holds its patient's later
    ones to that destination; running it again (in order) or --skip releases them."""
    if skip:
        if all_failed:
            raise click.UsageError("--skip takes message ids, not --all")
        if not message_ids:
            raise click.UsageError("--skip needs message ids")
        store, _ = open_store(data, config_data_dir(data, config_file))
        from renkei.pipelines.holds import skip as skip_dead

        skipped = skip_dead(store, message_ids)
        engine = engine_for(store, data, config_file)
        try:
            engine.deliver_due()  # what the skipped deliveries held goes now, in order
        finally:
            engine.close()
        if as_json:
            emit_json({"skipped": {str(k): v for k, v in skipped.items()}})
        else:
            for mid, n in skipped.items():
                click.echo(f"message {mid}: {n} DEAD deliveries skipped; later messages may go")
        return
    if all_failed and not pipeline:
        raise click.UsageError("--all needs --pipeline")
    if pipeline and not all_failed:
        raise click.UsageError("--pipeline goes with --all")
    if not message_ids and not all_failed:
        raise click.UsageError("give message ids, or --all --pipeline NAME")
    store, _ = open_store(data, config_data_dir(data, config_file))
    ids = list(dict.fromkeys(message_ids))
    missing = [mid for mid in ids if store.get_message(mid)[0] is None]
    if missing:
        raise NotFoundError(f"no message {', '.join(map(str, missing))} (`renkei messages list` shows the ids)")
    for mid in ids:  # refused before anything runs: a pruned message has no input left to run
        msg = store.get_message(mid)[0]
        if msg.pruned:
            raise RefusedError(f"message {mid} cannot be reprocessed: {pruned_note(msg.pruned, msg.pruned_at)}")
    engine = engine_for(store, data, config_file)
    if all_failed:
        assert pipeline is not None
        if pipeline not in {p.name for p in engine.config.pipelines}:
            engine.close()
            raise click.BadParameter(f"no pipeline {pipeline!r} in the configuration", param_hint="--pipeline")
        ids += [r.id for r in store.messages_in_states(pipeline, [MessageState.DEAD, MessageState.QUARANTINED])]
    try:
        engine.reprocess(ids)
        after = {mid: store.get_message(mid)[0].state for mid in ids}
    finally:
        engine.close()
    summary: dict[str, int] = {}
    for st in after.values():
        summary[str(st)] = summary.get(str(st), 0) + 1
    if as_json:
        emit_json({"messages": {str(k): v for k, v in after.items()}, "summary": summary, "reprocessed": len(ids)})
        return
    if len(ids) <= 20:
        for mid, st in after.items():
            click.echo(f"message {mid}: {st}")
    outcome = ", ".join(f"{st} {n}" for st, n in sorted(summary.items())) or "nothing to do"
    click.echo(f"reprocessed {len(ids)} message(s): {outcome}")


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


def _anchors(store) -> list[audit_chain.Anchor]:
    try:
        return audit_anchors.load_anchors(store.url)
    except audit_anchors.AnchorFileError as exc:
        raise NotFoundError(str(exc)) from None  # someone changed the anchors: a failed check (exit 1)


@audit.command("verify")
@click.option("--anchor", default="", metavar="SEQ:HASH", help="a head printed earlier: it must still be there")
@data_option
@json_option
@handle_errors
def audit_verify(anchor: str, data: str | None, as_json: bool) -> None:
    """Check the keyed hash chain of every audit entry against the anchors kept outside the data folder
    (and --anchor); exit 1 if it is broken. A successful check writes a new anchor."""
    if anchor:
        try:
            audit_chain.parse_anchor(anchor)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--anchor") from None
    store, _ = open_store(data)
    anchors = _anchors(store)
    with store.read() as conn:
        result = audit_chain.verify(conn, anchor=anchor, anchors=anchors)
        written = audit_anchors.write_anchor(conn, store.url) if result.ok else None
    out = {
        "ok": result.ok,
        "entries": result.entries,
        "first_bad_seq": result.first_bad_seq,
        "reason": result.reason,
        "head": result.head,
        "keyed_from": result.keyed_from,
        "anchors_checked": result.anchors_checked,
        "anchor_folder": str(audit_anchors.anchor_folder(store.url)),
        "key_file": str(audit_chain.key_path()),
    }
    if as_json:
        emit_json(out)
    elif result.ok:
        keyed = f"keyed from entry {result.keyed_from}" if result.keyed_from else "plain (not keyed yet)"
        click.echo(f"audit log intact: {result.entries} entries, {keyed}; head {result.head}")
        click.echo(
            f"checked against {result.anchors_checked} anchor(s); anchored in {written.path if written else '-'}"
        )
        click.echo(f"audit key: {audit_chain.key_path()} (keep a copy; it is not in the data folder)")
    else:
        click.echo(f"audit log BROKEN at entry {result.first_bad_seq}: {result.reason}", err=True)
    if not result.ok:
        sys.exit(EXIT_REFUSED)


@audit.command("anchor")
@data_option
@json_option
@handle_errors
def audit_anchor(data: str | None, as_json: bool) -> None:
    """Write an anchor now (the head of the chain and its entry count) outside the data folder."""
    store, _ = open_store(data)
    with store.read() as conn:
        written = audit_anchors.write_anchor(conn, store.url)
    a = written.anchor
    if as_json:
        emit_json({"seq": a.seq, "hash": a.hash, "entries": a.entries, "keyed_from": a.keyed_from,
                   "file": str(written.path)})  # fmt: skip
    else:
        click.echo(f"anchor: entry {a.seq} {a.hash}, {a.entries} entries -> {written.path}")

"""`renkei timeline list|show|file|reply`: read the built-in timeline (reads and downloads are audited), reply
as a member."""

from __future__ import annotations

from pathlib import Path

import click

from renkei.bin.acting import acting_user, as_option
from renkei.bin.common import data_dir_of, data_option, emit_json, handle_errors, iso, json_option
from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.store import Store


@click.group()
def timeline() -> None:
    """The built-in patient timelines."""


@timeline.command("list")
@click.option("--member", default=None, help="only this member's groups, with unread counts")
@data_option
@json_option
@handle_errors
def list_groups(member: str | None, data: str | None, as_json: bool) -> None:
    """Patient groups, newest activity first."""
    tl = BuiltinTimeline.open(data_dir_of(data))
    try:
        groups = tl.list_groups(member)
    finally:
        tl.close()
    if as_json:
        emit_json(groups)
        return
    for g in groups:
        unread = f", {g['unread']} unread" if "unread" in g else ""
        click.echo(f"patient {g['patient_id']}: {g['posts']} posts{unread}")


@timeline.command("show")
@click.argument("patient_id")
@click.option(
    "--member", default=None, help="read as this member: the posts their role's audience includes (records receipts)"
)
@data_option
@json_option
@handle_errors
def show(patient_id: str, member: str | None, data: str | None, as_json: bool) -> None:
    """The posts on PATIENT_ID's timeline, oldest first (posts for an audience only with --member in it)."""
    data_dir = data_dir_of(data)
    tl = BuiltinTimeline.open(data_dir)
    store = Store.in_data_dir(data_dir)
    try:
        gid = tl.group_for_patient(patient_id)
        # Without --member: the whole-team posts only (a post for an audience is shown to its members alone).
        posts = tl.read(gid, member, whole_team_only=member is None)
        store.audit([AuditEntry("timeline.read", patient_id, f"timeline-group:{gid}", member or "")])
        members = tl.members_of(gid)
    finally:
        tl.close()
        store.close()
    if as_json:
        emit_json({"patient_id": patient_id, "group_id": gid, "members": members, "posts": posts})
        return
    click.echo(f"patient {patient_id} · group {gid} · members: {', '.join(members)}")
    for p in posts:
        state = " (retracted)" if p["retracted"] else (" (replaced)" if p["replaced_by"] else "")
        click.echo(f"--- #{p['id']} {iso(p['created_at'])} {p['author']}{state}")
        click.echo(p["text"])
        if p["tags"]:
            click.echo(" ".join(f"□{t}" for t in p["tags"]))
        for n, a in enumerate(p.get("attachments") or ()):
            click.echo(f"[file {n}] {a['name']} ({a['media_type']}, {a['size']} bytes)")


@timeline.command("file")
@click.argument("patient_id")
@click.argument("post_id", type=int)
@click.argument("index", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="where to write the file")  # fmt: skip
@click.option("--member", default=None, help="as this member (their audience); else whole-team posts only")
@data_option
@handle_errors
def save_file(patient_id: str, post_id: int, index: int, output: Path, member: str | None, data: str | None) -> None:
    """Save file INDEX (0 = first) of post POST_ID on PATIENT_ID's timeline, byte for byte (audited)."""
    data_dir = data_dir_of(data)
    tl = BuiltinTimeline.open(data_dir)
    store = Store.in_data_dir(data_dir)
    try:
        gid = tl.group_for_patient(patient_id)
        meta, content = tl.attachment(gid, post_id, index, member, whole_team_only=member is None)
        output.write_bytes(content)
        store.audit([AuditEntry("timeline.file_download", patient_id, f"timeline-post:{post_id}/file:{index}",
                                f"{meta['media_type']} {meta['size']} bytes")])  # fmt: skip
    finally:
        tl.close()
        store.close()
    click.echo(f"{output}: {meta['name']} ({meta['media_type']}, {meta['size']} bytes)")


@timeline.command("reply")
@click.argument("patient_id")
@click.argument("text")
@as_option
@data_option
@json_option
@handle_errors
def reply(patient_id: str, text: str, as_user: str | None, data: str | None, as_json: bool) -> None:
    """Reply on PATIENT_ID's timeline as yourself (--as, a member of the patient's group); a `builtin-replies`
    source takes it back to the EHR
    (a vitals report such as "BT 36.8 BP 120/80 P 72 SpO2 97" as ORU^R01 / Observation: docs/way-back.md)."""
    from renkei.connectors.builtin_timeline_source import post_reply

    data_dir = data_dir_of(data)
    store = Store.in_data_dir(data_dir)
    try:
        # The member is the authenticated renkei user (as in the console): nobody replies in another's name.
        member = acting_user(store, as_user, "timelines.reply").name
    except BaseException:
        store.close()
        raise
    tl = BuiltinTimeline.open(data_dir)
    try:
        post_id = post_reply(tl, patient_id, member, text)
        store.audit([AuditEntry("timeline.reply", patient_id, f"timeline-post:{post_id}", member, actor=member)])
    finally:
        tl.close()
        store.close()
    if as_json:
        emit_json({"patient_id": patient_id, "post_id": post_id, "member": member})
        return
    click.echo(f"replied on patient {patient_id}'s timeline as {member} (post #{post_id})")

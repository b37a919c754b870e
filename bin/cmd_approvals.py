"""`renkei approvals list|approve|reject`: a physician's decision on sensitive items (audited)."""

from __future__ import annotations

import click

from renkei.bin.acting import acting_user, as_option
from renkei.bin.common import data_option, emit_json, engine_for, handle_errors, iso, json_option, open_store
from renkei.errors import NotFoundError
from renkei.pipelines.schema import MessageState


@click.group()
def approvals() -> None:
    """Items waiting for a physician's approval before they reach any timeline."""


@approvals.command("list")
@data_option
@json_option
@handle_errors
def list_waiting(data: str | None, as_json: bool) -> None:
    store, _ = open_store(data)
    rows = store.list_messages(state=MessageState.AWAITING_APPROVAL, limit=1000)
    items = [
        {"id": r.id, "pipeline": r.pipeline, "patient_id": r.patient_id, "data_type": r.data_type,
         "received_at": iso(r.received_at), "reason": r.reason}
        for r in rows
    ]  # fmt: skip
    if as_json:
        emit_json(items)
        return
    for m in items:
        click.echo(f"{m['id']:>7} {m['patient_id']:<12} {m['data_type']:<8} {m['received_at']}  {m['reason']}")


def _decide(message_id: int, approve: bool, note: str, as_user: str | None, data: str | None, as_json: bool) -> None:
    store, _ = open_store(data)
    physician = acting_user(store, as_user, "approvals.decide")
    try:
        state = store.decide_approval(message_id, approve, note, actor=physician.name)
    except KeyError:
        raise NotFoundError(f"message {message_id} is not awaiting approval") from None
    if approve:
        engine = engine_for(store, data)
        try:
            engine.deliver_due()
        finally:
            engine.close()
        state = store.get_message(message_id)[0].state
    emit_json({"id": message_id, "state": state}) if as_json else click.echo(f"message {message_id}: {state}")


@approvals.command("approve")
@click.argument("message_id", type=int)
@click.option("--note", default="", help="why (kept in the audit log)")
@as_option
@data_option
@json_option
@handle_errors
def approve(message_id: int, note: str, as_user: str | None, data: str | None, as_json: bool) -> None:
    """Let MESSAGE_ID's deliveries go."""
    _decide(message_id, True, note, as_user, data, as_json)


@approvals.command("reject")
@click.argument("message_id", type=int)
@click.option("--note", required=True, help="why (kept in the audit log and on the message)")
@as_option
@data_option
@json_option
@handle_errors
def reject(message_id: int, note: str, as_user: str | None, data: str | None, as_json: bool) -> None:
    """Never deliver MESSAGE_ID."""
    _decide(message_id, False, note, as_user, data, as_json)

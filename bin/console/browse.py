"""The message browser (admin): filter by pipeline, state, patient and time, one message's raw bytes
decoded (ISO-2022-JP as stored at the SS-MIX2 edge), its parsed records and delivery history, and
reprocess through the engine, as `renkei reprocess` does."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from renkei.bin.console.auth import refuse, requires, session_of
from renkei.connectors.hl7v2 import decode_iso2022jp
from renkei.errors import RenkeiError
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.schema import MessageState
from renkei.pipelines.views import MessageFilter, browse_messages, pipelines_known

PAGE_SIZE = 50
REPROCESSABLE = {MessageState.QUARANTINED, MessageState.FILTERED, MessageState.DEAD, MessageState.ERROR}
JIS_ESCAPE = b"\x1b$"  # ISO-2022-JP switches to JIS X 0208 with ESC $ B (or ESC $ @)


def decode_raw(raw: bytes, key: str) -> tuple[str, str]:
    """(text for display, encoding it was read as). Undecodable bytes show as U+FFFD, never hidden."""
    if JIS_ESCAPE in raw:
        try:
            return decode_iso2022jp(raw, key, replace=True)[0], "ISO-2022-JP"
        except RenkeiError:
            return raw.decode("iso2022_jp", errors="replace"), "ISO-2022-JP"
    try:
        return raw.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), "UTF-8 (with undecodable bytes)"


def _filter_of(request: Request) -> MessageFilter:
    q = request.query_params
    before = q.get("before", "")
    return MessageFilter(
        pipeline=q.get("pipeline", "")[:100], state=q.get("state", "")[:20], patient_id=q.get("patient", "")[:64],
        since=_day(q.get("since", "")), until=_day(q.get("until", ""), end=True),
        before_id=int(before) if before.isdigit() else None,
    )  # fmt: skip


def _day(value: str, end: bool = False) -> float | None:
    """A YYYY-MM-DD (local time) as epoch seconds; `until` includes the whole day."""
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return None
    return day.timestamp() + (86400 if end else 0)


@requires("messages.view")
async def messages_page(request: Request) -> Response:
    from renkei.bin.console.pages import render

    store = request.app.state.store
    f = _filter_of(request)
    rows = await run_in_threadpool(browse_messages, store, f, PAGE_SIZE)
    store.audit([AuditEntry("console.messages_read", f.patient_id, "messages",
                            f"{len(rows)} rows", actor=session_of(request).user.name)])  # fmt: skip
    params = {k: v for k, v in request.query_params.items() if k != "before"}
    return render(request, "messages.html", {
        "rows": rows, "filters": params, "pipelines": pipelines_known(store),
        "states": [s.value for s in MessageState], "next_before": rows[-1].id if len(rows) == PAGE_SIZE else None,
    })  # fmt: skip


@requires("messages.view")
async def message_page(request: Request) -> Response:
    from renkei.bin.console.pages import render

    store = request.app.state.store
    message_id = request.path_params["message_id"]
    msg, dels = store.get_message(message_id)
    if msg is None:
        return await refuse(request, 404, "not_found")
    store.audit([AuditEntry("console.message_read", msg.patient_id, f"message:{message_id}", "",
                            actor=session_of(request).user.name)])  # fmt: skip
    text, encoding = decode_raw(msg.raw, msg.source_key)
    records: list[dict[str, Any]] = msg.records or []
    return render(request, "message.html", {
        "m": msg, "raw_text": text.replace("\r", "\n"), "encoding": encoding, "raw_size": len(msg.raw),
        "records": [json.dumps(r, ensure_ascii=False, indent=1, default=str) for r in records],
        "deliveries": dels, "reprocessable": msg.state in REPROCESSABLE and request.app.state.engine is not None,
        "result": request.query_params.get("result", ""),
    })  # fmt: skip


@requires("messages.reprocess")
async def reprocess(request: Request) -> Response:
    message_id = request.path_params["message_id"]
    engine = request.app.state.engine
    if engine is None:
        return await refuse(request, 409, "bad_request")
    store = request.app.state.store
    msg, _ = store.get_message(message_id)
    if msg is None:
        return await refuse(request, 404, "not_found")
    if msg.state not in REPROCESSABLE:
        return await refuse(request, 409, "bad_request")
    store.audit([AuditEntry("console.reprocess", msg.patient_id, f"message:{message_id}", msg.state,
                            actor=session_of(request).user.name)])  # fmt: skip
    await run_in_threadpool(engine.reprocess, [message_id])
    after, _ = store.get_message(message_id)
    return RedirectResponse(f"/messages/{message_id}?result={after.state}", status_code=303)

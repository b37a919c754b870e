"""The tap station: a nurse's live view of one reader (`/tapstation?reader=NAME`), for a ward tablet or a phone.

The bedside publishes every tap outcome to `tap-events.jsonl` in the data folder (pipelines/connector_services.py);
`renkei run` may be another process, so the stream tails that file (never the log) and sends each event as
Server-Sent Events, with the patient's birth date, the nurse's display name and, where a rule held a reading,
the held readings the nurse may confirm. An event's SSE id is its position in the file ("INODE:OFFSET", see
pipelines/event_file.py), so a reconnecting EventSource (Last-Event-ID) resumes where it stopped, also
across a rotation of the file (finished under its rotated name, then the new file from its start). A stream
ends after `tapstation_stream_seconds`; the browser reconnects at once, and the reconnection passes the session
and permission check again.

Watching the page is not activity (the stream does not keep the session alive), but the nurse's own taps are:
an event naming the session's user touches the session. A stream whose session ended (logout, idle
timeout) stops; the page then goes to the login page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from renkei.bin.console.auth import SESSION_COOKIE, refuse, requires, session_of
from renkei.bin.console.pages import render
from renkei.errors import InputError, NotFoundError
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.bedside_confirm import confirm_held_reading, held_readings
from renkei.pipelines.connector_services import EVENTS_FILE
from renkei.pipelines.event_file import Position, end_position, read_new

POLL_SECONDS = 0.1  # how often the file is looked at: well inside the 1 s a nurse waits for the reading
KEEPALIVE_SECONDS = 15.0
SESSION_CHECK_SECONDS = 5.0


def _events_path(request: Request) -> Path:
    return Path(request.app.state.data_dir) / EVENTS_FILE


def _reader_of(request: Request) -> str:
    return request.query_params.get("reader", "")[:100]


def _audit(request: Request, action: str, patient_id: str, obj: str, detail: str = "") -> None:
    actor = session_of(request).user.name
    request.app.state.store.audit([AuditEntry(action, patient_id, obj, detail, actor=actor)])


@requires("tapstation.use")
async def tapstation_page(request: Request) -> Response:
    reader = _reader_of(request)
    start = str(end_position(_events_path(request)))  # only what happens from now on
    await run_in_threadpool(_audit, request, "console.tapstation_open", "", f"reader:{reader or '*'}")
    return render(request, "tapstation.html", {
        "reader": reader, "start": start, "confirmed": request.query_params.get("confirmed", ""),
        "error": request.query_params.get("error", ""),
    })  # fmt: skip


@requires("tapstation.use")
async def tapstation_events(request: Request) -> Response:
    reader = _reader_of(request)
    resume = request.headers.get("last-event-id") or request.query_params.get("from", "0")
    position = Position.parse(resume[:40])
    await run_in_threadpool(_audit, request, "console.tapstation_stream", "", f"reader:{reader or '*'} from {position}")
    limit = float(request.app.state.settings.tapstation_stream_seconds)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(_stream(request, reader, position, limit), media_type="text/event-stream", headers=headers)


async def _stream(request: Request, reader: str, position: Position, limit: float) -> AsyncIterator[str]:
    path = _events_path(request)
    started = last_sent = last_check = time.monotonic()
    yield "retry: 1000\n\n"
    while time.monotonic() - started < limit:
        if time.monotonic() - last_check > SESSION_CHECK_SECONDS:
            last_check = time.monotonic()
            if not await run_in_threadpool(_session_alive, request, False):
                return  # logged out or idle too long: the browser's reconnection is sent to the login page
        lines, position = await run_in_threadpool(read_new, path, position)
        for line, end in lines:
            event = _parse(line)
            if event is None or (reader and event.get("reader") != reader):
                continue
            shown = await run_in_threadpool(_enrich, request, event)
            if event.get("nurse_id") == session_of(request).user.name:
                await run_in_threadpool(_session_alive, request, True)  # the nurse's own taps are activity
            yield f"id: {end}\nevent: tap\ndata: {json.dumps(shown, ensure_ascii=False)}\n\n"
            last_sent = time.monotonic()
        if not lines:
            if await request.is_disconnected():
                return
            if time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
            await asyncio.sleep(POLL_SECONDS)


def _session_alive(request: Request, touch: bool) -> bool:
    """Whether the stream's session is still live (`touch`: and keep it alive, for the nurse's own tap)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    idle = request.app.state.settings.idle_timeout_seconds
    return request.app.state.people.session(token, idle, touch) is not None


def _parse(line: str) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None  # a torn line is skipped; the file is the bedside's, never rewritten here
    return event if isinstance(event, dict) else None


def _enrich(request: Request, event: dict[str, Any]) -> dict[str, Any]:
    """The event as the page shows it: + the nurse's display name, the patient's birth date, held readings."""
    store = request.app.state.store
    out = dict(event)
    nurse = str(event.get("nurse_id") or "")
    out["nurse_name"] = nurse
    if nurse:
        with contextlib.suppress(NotFoundError):  # a badge's staff id that is not a console user: the id is shown
            out["nurse_name"] = request.app.state.people.get(nurse).display_name or nurse
    patient = event.get("patient") if isinstance(event.get("patient"), dict) else None
    if patient and patient.get("id"):
        pid = str(patient["id"])
        basics = store.patient_basics([pid]).get(pid) or {}
        out["patient"] = {**patient, "birth_date": str(basics.get("birth_date") or "")}
        if event.get("held"):
            out["held_readings"] = held_readings(store, pid, limit=5)
        _audit(request, "console.tapstation_show", pid, f"tap:{event.get('code', '')}", f"reader:{event.get('reader')}")
    return out


@requires("tapstation.use")
async def tapstation_confirm(request: Request) -> Response:
    """Confirm a held reading (the nurse checked it at the bedside): the service `renkei devices confirm` uses."""
    form = await request.form()
    reader = str(form.get("reader", ""))[:100]
    text = str(form.get("message_id", ""))
    engine = request.app.state.engine
    if not text.isdigit() or engine is None:
        return await refuse(request, 400, "bad_request")
    nurse = session_of(request).user.name
    try:
        done = await run_in_threadpool(confirm_held_reading, engine, int(text), nurse)
    except (InputError, NotFoundError):
        return RedirectResponse(f"/tapstation?{urlencode({'reader': reader, 'error': text})}", status_code=303)
    await run_in_threadpool(_audit, request, "bedside.confirm", done.patient_id, f"message:{done.held_id}",
                            f"confirmed as message:{done.new_id}{' (already)' if done.duplicate else ''}")  # fmt: skip
    return RedirectResponse(f"/tapstation?{urlencode({'reader': reader, 'confirmed': done.new_id})}", status_code=303)

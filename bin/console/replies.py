"""Replying on a patient's built-in timeline from the console: a free-text reply, and the vitals form.

The same rule as `renkei timeline reply --as`: the reply is the logged-in user's own
(`timelines.reply`), and only a member of the patient's group may post.

The vitals form has one field per item of the way back's text convention
(「BT 36.8 BP 120/80 P 72 SpO2 97 RR 16」, mappings/vital_text.py). It writes that text from the filled
fields. Each field must be a plain number on its own, so a field cannot smuggle in another item. Before
posting, the text is read back with the same reader the `builtin-replies` source uses. A value that reader
would refuse (outside the item's plausible range, too many decimals, half a blood pressure) is refused
here, on the form, with the reason in the user's language, and nothing is posted. A free-text reply that
reads as a vitals report is checked the same way. Either way the nurse is told now, not when the reply
fails on its way back to the EHR.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from renkei.bin.console.auth import refuse, requires, session_of
from renkei.bin.console.pages import show_timeline
from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.connectors.builtin_timeline_source import post_reply
from renkei.errors import InputError, NotFoundError, RefusedError
from renkei.mappings.vital_text import VitalTextError, is_vital_text, read_vital_text
from renkei.pipelines.audit import AuditEntry

MAX_REPLY_CHARS = 4000
# form field -> the convention's label; blood pressure is two fields written as one value "120/80"
VITAL_FIELDS = (("bt", "BT"), ("bp_sys", "BP"), ("p", "P"), ("spo2", "SpO2"), ("rr", "RR"))
_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_LABEL_JA = {"bt": "体温", "bp_sys": "収縮期血圧", "bp_dia": "拡張期血圧", "p": "脈拍", "spo2": "SpO2", "rr": "呼吸数"}


def vitals_text(form: dict[str, str]) -> str:
    """The convention's text from the form's fields (VitalTextError for a field that is not a number)."""
    values = {k: unicodedata.normalize("NFKC", form.get(k, "")).strip() for k in _LABEL_JA}
    for field, value in values.items():
        if value and not _PLAIN_NUMBER.fullmatch(value):
            raise VitalTextError(f"{_LABEL_JA[field]}: 数字だけで入力してください / {field}: enter a number only")
    if bool(values["bp_sys"]) != bool(values["bp_dia"]):
        raise VitalTextError(
            "血圧: 収縮期と拡張期の両方を入力してください / blood pressure: enter both systolic and diastolic"
        )
    parts = []
    for field, label in VITAL_FIELDS:
        if values[field]:
            value = f"{values['bp_sys']}/{values['bp_dia']}" if field == "bp_sys" else values[field]
            parts.append(f"{label} {value}")
    if not parts:
        raise VitalTextError("バイタル: 値が入力されていません / vital signs: no value entered")
    return " ".join(parts)


def in_language(reason: str, lang: str) -> str:
    """One side of a "ja / en" reason."""
    ja, sep, en = reason.partition(" / ")
    return (en if lang == "en" else ja) if sep else reason


@requires("timelines.reply")
async def reply(request: Request) -> Response:
    patient_id = request.path_params["patient_id"]
    session = session_of(request)
    form = {k: str(v) for k, v in (await request.form()).items() if k != "csrf"}
    try:
        if form.get("kind") == "vitals":
            text = vitals_text(form)
        else:
            text = form.get("text", "").strip()
            if not text or len(text) > MAX_REPLY_CHARS:
                raise InputError(
                    f"返信: 1〜{MAX_REPLY_CHARS} 文字で入力してください / reply: 1 to {MAX_REPLY_CHARS} characters"
                )
        if form.get("kind") == "vitals" or is_vital_text(text):
            # only the check: the time the builtin-replies source gives the readings is the post's
            read_vital_text(text, patient_id=patient_id, measured_at=datetime.now().astimezone(),
                            reporter=session.user.name, record_key="console-check")  # fmt: skip
    except InputError as exc:  # VitalTextError included
        shown: dict[str, Any] = {**form, "error": in_language(str(exc), session.lang)}
        return await show_timeline(request, form=shown, status=400)
    post_id = await run_in_threadpool(_post, request, patient_id, session.user.name, text)
    if post_id is None:
        return await refuse(request, 403, "not_member")
    return RedirectResponse(f"/timelines/{quote(patient_id, safe='')}?replied={quote(post_id)}", status_code=303)


def _post(request: Request, patient_id: str, member: str, text: str) -> str | None:
    """The post's id, or None when the user is not a member of the patient's group (refused, audited)."""
    store = request.app.state.store
    tl = BuiltinTimeline.open(request.app.state.data_dir)
    try:
        post_id = post_reply(tl, patient_id, member, text)
    except (RefusedError, NotFoundError):
        store.audit([AuditEntry("console.reply_refused", patient_id, "timeline", "not a member", actor=member)])
        return None
    finally:
        tl.close()
    store.audit([AuditEntry("timeline.reply", patient_id, f"timeline-post:{post_id}", member, actor=member)])
    return post_id

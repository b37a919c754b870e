"""The console's pages. Each declares the permission it needs; each calls the engine's services only."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from renkei.bin.console.auth import (
    CSRF_FIELD,
    page_context,
    people_of,
    refuse,
    requires,
    session_of,
    set_session_cookie,
)
from renkei.bin.console.i18n import LANGS, translator
from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.errors import NotFoundError, RefusedError
from renkei.pipelines import views
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.schema import MessageState

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
TEMPLATES.env.filters["datetime"] = lambda t: datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t else ""
LOGIN_CSRF_COOKIE = "renkei_login_csrf"
REFRESH_SECONDS = 10
APPROVAL_PATIENTS_PER_PAGE = 10
TIMELINES_PER_PAGE = 100


def render(request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    session = session_of(request)
    lang = session.lang if session else request.query_params.get("lang", "ja")
    ctx = {**page_context(request), "t": translator(lang), "lang": lang if lang in LANGS else "ja", **(context or {})}
    response = TEMPLATES.TemplateResponse(request, name, ctx, status_code=status)
    response.headers["Cache-Control"] = "no-store"  # patient data never stays in a shared browser's cache
    return response


# -- logging in and out -----------------------------------------------------------------------------
async def login_form(request: Request) -> Response:
    token = secrets.token_urlsafe(32)  # double-submit token: the login form has no session yet
    response = render(request, "login.html", {"login_csrf": token, "next": _safe_next(request), "error": ""})
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.app.state.settings.tls, path="/login")  # fmt: skip
    return response


async def login(request: Request) -> Response:
    form = await request.form()
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = str(form.get(CSRF_FIELD, ""))
    if not cookie or not secrets.compare_digest(cookie, sent):
        people_of(request).audit_refusal(str(form.get("user", ""))[:100], "csrf token missing or wrong: /login")
        return await refuse(request, 403, "bad_request")
    people = people_of(request)
    name, password = str(form.get("user", ""))[:100], str(form.get("password", ""))
    try:
        user = await run_in_threadpool(people.authenticate, name, password, "console")
    except RefusedError as exc:
        token = secrets.token_urlsafe(32)
        response = render(request, "login.html", {"login_csrf": token, "next": _safe_next(request),
                                                  "error": str(exc)}, status=401)  # fmt: skip
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login")
        return response
    lang = request.query_params.get("lang", "ja")
    token, _session = people.open_session(user, lang if lang in LANGS else "ja")
    response = RedirectResponse(_safe_next(request, form.get("next")), status_code=303)
    set_session_cookie(request, response, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _safe_next(request: Request, value: object = None) -> str:
    """Only a path on this console (never another site) to return to after logging in."""
    target = str(value or request.query_params.get("next") or "/")
    return target if target.startswith("/") and not target.startswith("//") else "/"


@requires("dashboard.view")
async def logout(request: Request) -> Response:
    people_of(request).close_session(session_of(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie("renkei_session", path="/")
    return response


async def home(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    for permission, path in (("approvals.decide", "/approvals"), ("dashboard.view", "/dashboard"),
                             ("timelines.view", "/timelines"), ("audit.view", "/audit")):  # fmt: skip
        if session.user.may(permission):
            return RedirectResponse(path, status_code=303)
    return await refuse(request, 403, "forbidden")


@requires("timelines.view")
async def switch_lang(request: Request) -> Response:
    form = await request.form()
    lang = str(form.get("lang", "ja"))
    people_of(request).set_lang(session_of(request), lang if lang in LANGS else "ja")
    return RedirectResponse(_safe_next(request, form.get("next")), status_code=303)


# -- operations -------------------------------------------------------------------------------------
def _dashboard_context(request: Request) -> dict[str, Any]:
    store = request.app.state.store
    counts, delivery_counts = store.counts(), store.delivery_counts()
    return {
        "counts": counts, "states": sorted({s for c in counts.values() for s in c}),
        "delivery_counts": delivery_counts, "delivery_states": sorted({s for c in delivery_counts.values() for s in c}),
        "stuck": store.list_messages(state=MessageState.DEAD.value, limit=20), "live_seconds": REFRESH_SECONDS,
        "now": datetime.now().strftime("%H:%M:%S"),
    }  # fmt: skip


@requires("dashboard.view")
async def dashboard(request: Request) -> Response:
    return render(request, "dashboard.html", await run_in_threadpool(_dashboard_context, request))


@requires("dashboard.view")
async def dashboard_live(request: Request) -> Response:
    """The dashboard's tables alone: the page fetches this every REFRESH_SECONDS instead of reloading."""
    return render(request, "dashboard_live.html", await run_in_threadpool(_dashboard_context, request))


@requires("approvals.decide")
async def approvals(request: Request) -> Response:
    store = request.app.state.store
    offset_text = request.query_params.get("offset", "0")
    offset = int(offset_text) if offset_text.isdigit() else 0
    patients, total = await run_in_threadpool(views.held_patients, store, offset, APPROVAL_PATIENTS_PER_PAGE)
    waiting = views.held_messages(store, patients)
    texts = views.delivery_texts(store, [row.id for row in waiting])
    by_patient: dict[str, list[dict[str, Any]]] = {pid: [] for pid in patients}  # longest waiting first
    for row in waiting:  # oldest first within a patient
        by_patient[row.patient_id].append({"id": row.id, "data_type": row.data_type, "texts": texts.get(row.id, []),
                                           "received_at": row.received_at, "reason": row.reason})  # fmt: skip
    names = store.patient_basics(patients)
    store.audit([AuditEntry("console.approvals_read", pid, "approvals", f"{len(items)} items",
                            actor=session_of(request).user.name) for pid, items in by_patient.items()])  # fmt: skip
    next_offset = offset + len(patients) if offset + len(patients) < total else None
    return render(request, "approvals.html", {"by_patient": by_patient, "names": names, "total": total,
                                              "next_offset": next_offset,
                                              "done": request.query_params.get("done", "")})  # fmt: skip


@requires("approvals.decide")
async def decide(request: Request) -> Response:
    form = await request.form()
    user = session_of(request).user
    approve = form.get("action") == "approve"
    note = str(form.get("note", ""))[:2000]
    if not approve and not note.strip():
        return await refuse(request, 400, "bad_request")  # a rejection says why, as on the CLI
    ids = [int(v) for v in form.getlist("id") if str(v).isdigit()]
    store = request.app.state.store
    decided = 0
    for mid in ids:
        try:
            store.decide_approval(mid, approve, note, actor=user.name)
            decided += 1
        except KeyError:
            continue  # decided meanwhile (another physician, the CLI): nothing to do
    engine = request.app.state.engine
    if approve and decided and engine is not None:
        await run_in_threadpool(engine.deliver_due)
    return RedirectResponse(f"/approvals?done={decided}", status_code=303)


# -- timelines --------------------------------------------------------------------------------------
@requires("timelines.view")
async def timelines(request: Request) -> Response:
    tl = BuiltinTimeline.open(request.app.state.data_dir)
    try:
        # Counts as this user may see them: their own groups by their audience, the others' whole-team posts.
        mine = {g["id"]: g for g in tl.list_groups(session_of(request).user.name)}
        every = [mine.get(g["id"], g) for g in tl.list_groups(whole_team_only=True)]  # newest activity first
    finally:
        tl.close()
    offset_text = request.query_params.get("offset", "0")
    offset = int(offset_text) if offset_text.isdigit() else 0
    groups = every[offset : offset + TIMELINES_PER_PAGE]
    next_offset = offset + TIMELINES_PER_PAGE if offset + TIMELINES_PER_PAGE < len(every) else None
    store = request.app.state.store
    names = store.patient_basics([g["patient_id"] for g in groups])
    store.audit([AuditEntry("console.patient_list", "", "timeline", f"{len(groups)} patients",
                            actor=session_of(request).user.name)])  # fmt: skip
    return render(request, "timelines.html", {"groups": groups, "names": names, "next_offset": next_offset})


@requires("timelines.view")
async def timeline(request: Request) -> Response:
    return await show_timeline(request)


async def show_timeline(request: Request, form: dict[str, Any] | None = None, status: int = 200) -> Response:
    """A patient's timeline; `form` re-shows a refused reply (its values and the reason) under the posts."""
    patient_id = request.path_params["patient_id"]
    tl = BuiltinTimeline.open(request.app.state.data_dir)
    user = session_of(request).user
    try:
        gid = tl.group_for_patient(patient_id)
        # A team member reads as themself (their audience, read receipts); anyone else only whole-team posts.
        member = user.name if tl.is_member(gid, user.name) else None
        posts = list(reversed(tl.read(gid, member, whole_team_only=member is None)))
    except NotFoundError:
        return await refuse(request, 404, "not_found")
    finally:
        tl.close()
    store = request.app.state.store
    store.audit([AuditEntry("console.timeline_read", patient_id, f"timeline-group:{gid}",
                            "as member" if member else "whole-team posts", actor=user.name)])  # fmt: skip
    name = store.patient_basics([patient_id]).get(patient_id, {})
    context = {"patient_id": patient_id, "name": name, "posts": posts, "form": form or {},
               "may_reply": member is not None and user.may("timelines.reply"),
               "replied": request.query_params.get("replied", "")}  # fmt: skip
    return render(request, "timeline.html", context, status=status)


@requires("timelines.view")
async def timeline_file(request: Request) -> Response:
    """A post's file as a download (never shown inline: a PDF or image from outside runs in no page of ours)."""
    patient_id = request.path_params["patient_id"]
    post_id, index = request.path_params["post_id"], request.path_params["index"]
    tl = BuiltinTimeline.open(request.app.state.data_dir)
    try:
        gid = tl.group_for_patient(patient_id)
        # As the timeline page shows it: a team member by their audience, anyone else whole-team posts only.
        member = session_of(request).user.name if tl.is_member(gid, session_of(request).user.name) else None
        meta, data = await run_in_threadpool(
            lambda: tl.attachment(gid, post_id, index, member, whole_team_only=member is None)
        )
    except NotFoundError:
        return await refuse(request, 404, "not_found")
    finally:
        tl.close()
    request.app.state.store.audit([AuditEntry(
        "console.file_download", patient_id, f"timeline-post:{post_id}/file:{index}",
        f"{meta['media_type']} {meta['size']} bytes sha256 {meta['sha256'][:16]}", actor=session_of(request).user.name,
    )])  # fmt: skip
    return Response(data, media_type=meta["media_type"] or "application/octet-stream", headers=download_headers(meta))


def download_headers(meta: dict[str, Any]) -> dict[str, str]:
    ext = quote(meta["name"].rsplit(".", 1)[-1] if "." in meta["name"] else "bin")
    return {
        # RFC 6266: an ASCII fallback name, then the real (Japanese) one percent-encoded as UTF-8
        "Content-Disposition": f"attachment; filename=\"document.{ext}\"; filename*=UTF-8''{quote(meta['name'])}",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


# -- people and audit -------------------------------------------------------------------------------
@requires("users.manage")
async def users(request: Request) -> Response:
    return render(request, "users.html", {"users": people_of(request).list()})


@requires("audit.view")
async def audit_log(request: Request) -> Response:
    result = request.app.state.store.verify_audit()
    return render(request, "audit.html", {"result": result})

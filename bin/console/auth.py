"""Who is asking, and may they: the session cookie, the permission each route declares, and CSRF.

A session is server-side (pipelines/people.py keeps it; the cookie holds only a random token, HttpOnly,
SameSite=Strict, Secure under TLS) and ends after an idle timeout. Every form carries the session's CSRF
token, checked on every POST before anything happens. Refusals are audited by the people service.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from renkei.errors import RefusedError
from renkei.pipelines.people import People, WebSession

SESSION_COOKIE = "renkei_session"
POLL_HEADER = "x-renkei-poll"  # set by a page refreshing itself: it does not keep an idle session alive
CSRF_FIELD = "csrf"
STREAM_PATHS = frozenset({"/tapstation/events"})

Endpoint = Callable[[Request], Awaitable[Response]]


def people_of(request: Request) -> People:
    return request.app.state.people


def session_of(request: Request) -> WebSession | None:
    """The request's live session (looked up once per request)."""
    if "session" not in request.scope.setdefault("renkei", {}):
        token = request.cookies.get(SESSION_COOKIE, "")
        idle = request.app.state.settings.idle_timeout_seconds
        # a page's own polling or event stream is not a person's activity (EventSource cannot set a header)
        touch = POLL_HEADER not in request.headers and request.url.path not in STREAM_PATHS
        request.scope["renkei"]["session"] = people_of(request).session(token, idle, touch) if token else None
    return request.scope["renkei"]["session"]


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=settings.tls, path="/",
        max_age=int(settings.idle_timeout_seconds) * 8,  # the server decides expiry; this only tidies
    )  # fmt: skip


def requires(permission: str) -> Callable[[Endpoint], Endpoint]:
    """Route decorator: a logged-in user whose roles allow `permission`; POSTs must carry the CSRF token."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def checked(request: Request) -> Response:
            session = session_of(request)
            if session is None:
                if request.method == "GET":
                    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
                return await refuse(request, 401, "bad_request")
            if request.method == "POST" and not await csrf_ok(request, session):
                people_of(request).audit_refusal(session.user.name, f"csrf token missing or wrong: {request.url.path}")
                return await refuse(request, 403, "bad_request")
            try:
                people_of(request).require(session.user, permission, request.url.path)
            except RefusedError:
                return await refuse(request, 403, "forbidden")
            return await endpoint(request)

        return checked

    return wrap


async def csrf_ok(request: Request, session: WebSession) -> bool:
    form = await request.form()
    sent = str(form.get(CSRF_FIELD, ""))
    return bool(sent) and secrets.compare_digest(sent, session.csrf_token)


async def refuse(request: Request, status: int, key: str) -> Response:
    from renkei.bin.console.pages import render  # pages import this module

    return render(request, "refused.html", {"message_key": key}, status=status)


def page_context(request: Request) -> dict[str, Any]:
    session = session_of(request)
    if session is None:
        return {"session": None, "user": None, "csrf": ""}
    return {"session": session, "user": session.user, "csrf": session.csrf_token}

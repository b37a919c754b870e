"""The console's app: settings, middleware in order (Host check first), and the route list."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Route

from renkei.bin.console import browse, pages, patients, replies, tapstation, teams
from renkei.pipelines.engine import Engine
from renkei.pipelines.people import SESSION_IDLE_SECONDS, People
from renkei.pipelines.store import Store

DEFAULT_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass(slots=True)
class ConsoleSettings:
    allowed_hosts: list[str] = field(default_factory=lambda: list(DEFAULT_HOSTS))
    idle_timeout_seconds: float = SESSION_IDLE_SECONDS
    tls: bool = False
    tapstation_stream_seconds: float = 300.0  # then the browser reconnects (and the session is checked again)


def build_app(
    store: Store, engine: Engine | None, data_dir: Path, settings: ConsoleSettings | None = None
) -> Starlette:
    """The console over a store (and the engine that delivers after approvals; None: deliveries are left
    to the running service)."""
    settings = settings or ConsoleSettings()
    routes = [
        Route("/", pages.home),
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/lang", pages.switch_lang, methods=["POST"]),
        Route("/dashboard", pages.dashboard),
        Route("/dashboard/live", pages.dashboard_live),
        Route("/messages", browse.messages_page),
        Route("/messages/{message_id:int}", browse.message_page),
        Route("/messages/{message_id:int}/reprocess", browse.reprocess, methods=["POST"]),
        Route("/patients", patients.patients_page),
        Route("/patients/{patient_id}", patients.patient_page),
        Route("/patients/{patient_id}/consent", patients.set_consent, methods=["POST"]),
        Route("/patients/{patient_id}/vitals", patients.vitals_page),
        Route("/patients/{patient_id}/team/add", teams.add_member, methods=["POST"]),
        Route("/patients/{patient_id}/team/remove", teams.remove_member, methods=["POST"]),
        Route("/approvals", pages.approvals),
        Route("/approvals/decide", pages.decide, methods=["POST"]),
        Route("/timelines", pages.timelines),
        Route("/timelines/{patient_id}", pages.timeline),
        Route("/timelines/{patient_id}/reply", replies.reply, methods=["POST"]),
        Route("/timelines/{patient_id}/files/{post_id:int}/{index:int}", pages.timeline_file),
        Route("/tapstation", tapstation.tapstation_page),
        Route("/tapstation/events", tapstation.tapstation_events),
        Route("/tapstation/confirm", tapstation.tapstation_confirm, methods=["POST"]),
        Route("/users", pages.users),
        Route("/audit", pages.audit_log),
    ]
    # Host names are compared without the port (Starlette strips it); the Host check runs before anything.
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.settings = settings
    app.state.store = store
    app.state.people = People(store)
    app.state.engine = engine
    app.state.data_dir = data_dir
    return app

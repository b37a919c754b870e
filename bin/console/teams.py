"""The care team section of a patient's page: who is in the team (teams.view), adding and removing a
member (teams.manage), the same rules and the same service as `renkei patients team` (pipelines/team_sync)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from renkei.audiences import ROLE_LABELS_JA, TEAM_ROLES
from renkei.bin.console.auth import refuse, requires, session_of
from renkei.errors import NotFoundError, RefusedError
from renkei.pipelines import team_sync
from renkei.pipelines.connector_services import seed_members
from renkei.pipelines.store import Store
from renkei.pipelines.teams import CareTeams


def team_context(store: Store, engine: Any, person: str) -> dict[str, Any]:
    """What the patient page shows of the team (the caller audits the page read)."""
    seed = sorted({m for n in (team_sync.timelines(engine) if engine else []) for m in seed_members(engine, n)})
    teams = CareTeams(store)
    return {"team": teams.team(person, seed), "team_removed": sorted(teams.removed(person)),
            "team_roles": TEAM_ROLES, "role_labels": ROLE_LABELS_JA}  # fmt: skip


async def _change(request: Request, remove: bool) -> Response:
    person = request.path_params["patient_id"]
    engine = request.app.state.engine
    if engine is None:
        return await refuse(request, 503, "no_engine")
    form = await request.form()
    member, role = str(form.get("member", "")).strip(), str(form.get("role", "")).strip()
    actor = session_of(request).user.name
    try:
        if remove:
            applied = await run_in_threadpool(team_sync.remove, engine, person, member, actor)
        else:
            _, applied = await run_in_threadpool(team_sync.add, engine, person, member, role, actor)
    except (RefusedError, NotFoundError):
        return await refuse(request, 400, "bad_member")
    failed = "&error=team_not_applied" if any(not a.done for a in applied) else ""
    return RedirectResponse(f"/patients/{quote(person, safe='')}?team=1{failed}", status_code=303)


@requires("teams.manage")
async def add_member(request: Request) -> Response:
    return await _change(request, remove=False)


@requires("teams.manage")
async def remove_member(request: Request) -> Response:
    return await _change(request, remove=True)

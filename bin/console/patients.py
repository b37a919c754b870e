"""Patients: the registry (consent with date and scope, linked identifiers), consent changes (admin) and
the vitals trend per patient (physicians). Every read and change is audited."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from renkei.bin.console.auth import refuse, requires, session_of
from renkei.bin.console.charts import trend_svgs
from renkei.bin.console.teams import team_context
from renkei.errors import RefusedError
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.views import vital_points

PAGE_SIZE = 100
TREND_WEEKS = 6
SCOPES = ("all", "timeline", "lab", "vitals", "external")


@requires("patients.view")
async def patients_page(request: Request) -> Response:
    from renkei.bin.console.pages import render

    store = request.app.state.store
    registry = PatientRegistry(store)
    offset_text = request.query_params.get("offset", "0")
    offset = int(offset_text) if offset_text.isdigit() else 0
    persons = (await run_in_threadpool(registry.persons))[offset : offset + PAGE_SIZE]
    consents = registry.consents(persons)
    names = store.patient_basics(persons)
    store.audit([AuditEntry("console.patient_list", "", "registry", f"{len(persons)} patients",
                            actor=session_of(request).user.name)])  # fmt: skip
    return render(request, "patients.html", {
        "persons": persons, "consents": consents, "names": names,
        "next_offset": offset + PAGE_SIZE if len(persons) == PAGE_SIZE else None,
    })  # fmt: skip


@requires("patients.view")
async def patient_page(request: Request) -> Response:
    from renkei.bin.console.pages import render

    patient_id = request.path_params["patient_id"]
    store = request.app.state.store
    registry = PatientRegistry(store)
    store.audit([AuditEntry("console.patient_read", patient_id, f"patient:{patient_id}", "",
                            actor=session_of(request).user.name)])  # fmt: skip
    team = await run_in_threadpool(team_context, store, request.app.state.engine, patient_id)
    return render(request, "patient.html", {
        "patient_id": patient_id, "name": store.patient_basics([patient_id]).get(patient_id, {}),
        "consent": registry.consent(patient_id), "identifiers": registry.identifiers(patient_id),
        "scopes": SCOPES, "today": date.today().isoformat(), "error": request.query_params.get("error", ""), **team,
    })  # fmt: skip


@requires("patients.edit")
async def set_consent(request: Request) -> Response:
    patient_id = request.path_params["patient_id"]
    form = await request.form()
    granted = form.get("state") == "granted"
    scope = [s for s in form.getlist("scope") if s in SCOPES]
    try:
        on = date.fromisoformat(str(form.get("date", "")))
    except ValueError:
        return await refuse(request, 400, "bad_date")
    if not scope:
        return await refuse(request, 400, "no_scope")
    try:
        PatientRegistry(request.app.state.store).set_consent(
            patient_id, granted, scope, on, str(form.get("note", ""))[:500], actor=session_of(request).user.name
        )
    except RefusedError:
        return await refuse(request, 400, "no_scope")
    return RedirectResponse(f"/patients/{patient_id}", status_code=303)


@requires("vitals.view")
async def vitals_page(request: Request) -> Response:
    from renkei.bin.console.pages import render

    patient_id = request.path_params["patient_id"]
    store = request.app.state.store
    end = datetime.now().astimezone()
    start = end - timedelta(weeks=TREND_WEEKS)
    points = await run_in_threadpool(vital_points, store, patient_id, TREND_WEEKS, end.timestamp())
    store.audit([AuditEntry("console.vitals_read", patient_id, f"patient:{patient_id}", f"{len(points)} values",
                            actor=session_of(request).user.name)])  # fmt: skip
    charts = trend_svgs(points, start, end)
    return render(request, "vitals.html", {
        "patient_id": patient_id, "name": store.patient_basics([patient_id]).get(patient_id, {}),
        "charts": charts, "weeks": TREND_WEEKS, "count": len(points),
    })  # fmt: skip


"""Encounter (JP_Encounter): one resource per stay, not one per ADT event.

The events of one stay (admission, transfers, leave and return, discharge) are keyed to one Encounter id:
by the visit number (PV1-19) when the source gives one, else by the admission date (PV1-44) and patient
class. Each event updates that Encounter: an admission is `in-progress` until its discharge arrives, then
`finished` with period.end. An event with neither key keeps its own Encounter (as before).

Each event also writes itself into `statusHistory` (its status from its time) and, when it names a ward,
into `location` (active from its time). The destination merges an event into the stay the server holds
(`merge_stay`) instead of rewriting it: the newest event decides status, period.end, department and doctor,
an older event arriving late only adds its history (and an earlier start), never regresses the state.

Department codes go under the SS-MIX2 clinical department code system and the attending doctor under the
facility's practitioner-id OID (`urn:oid:1.2.392.100495.20.3.41.1` + the 10-digit facility code), as
JP Core names them (jp-core-v1x input/fsh/aliases-jpcore.fsh: $JP_Department_SsMix_CS).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import TYPE_CHECKING, Any

from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._ids import record_key, resource_id
from renkei.connectors.fhir._time import from_fhir_datetime, to_fhir_datetime
from renkei.records import Encounter, RecordStatus

if TYPE_CHECKING:
    from renkei.connectors.fhir.jpcore import JPCoreConverter

STATUS = {
    "admission_planned": "planned",
    "admission": "in-progress",
    "transfer_planned": "in-progress",
    "transfer": "in-progress",
    "discharge_planned": "in-progress",
    "leave": "onleave",
    "return": "in-progress",
    "attending": "in-progress",
    "discharge": "finished",
    "visit": "finished",
}
CLASS = {"I": ("IMP", "inpatient encounter"), "O": ("AMB", "ambulatory"), "E": ("EMER", "emergency")}


def stay_key(e: Encounter) -> str:
    """What ties the events of one stay together: PV1-19, else the admission date, else the event's own key."""
    if e.visit_number:
        return f"{e.patient_id}|visit|{e.visit_number}"
    admitted = e.admitted_at or (e.occurred_at if e.event in ("admission", "visit") else None)
    if admitted is not None:
        return f"{e.patient_id}|admitted|{e.patient_class.upper()}|{admitted.date().isoformat()}"
    return record_key(e)


def _status(e: Encounter) -> str:
    if e.status != RecordStatus.DELETED:
        return STATUS.get(e.event, "unknown")
    # A cancelled admission (A11) or visit retracts the stay; a cancelled discharge (A13), transfer or
    # leave only undoes that event, so the stay is ongoing again.
    return "entered-in-error" if e.event in ("admission", "admission_planned", "visit") else "in-progress"


def encounter(conv: JPCoreConverter, e: Encounter) -> dict[str, Any]:
    res = conv._base("Encounter", e, S.PROFILE["Encounter"])
    rid = resource_id(conv.facility_code, conv.source_system, "Encounter", stay_key(e))
    res["id"] = rid
    res["identifier"][0] = {"system": S.RECORD_ID, "value": rid}
    if e.visit_number:
        res["identifier"].append({"system": S.VISIT_NUMBER, "value": e.visit_number})
    res["status"] = _status(e)
    code, display = CLASS.get(e.patient_class.upper(), ("AMB", "ambulatory"))
    res["class"] = {"system": S.ACT_CODE, "code": code, "display": display}
    res["type"] = [{"coding": [{"system": S.ENCOUNTER_EVENT, "code": e.event}]}]
    if e.department:
        system = S.department_system(conv.jp_core_version)
        res["serviceType"] = {"coding": [{"system": system, "code": e.department}]}
    res["subject"] = conv.patient_reference(e.patient_id)
    if e.attending:
        staff = {"system": S.PRACTITIONER_ID_OID_PREFIX + conv.facility_code, "value": e.attending}
        res["participant"] = [{"individual": {"type": "Practitioner", "identifier": staff}}]
    period: dict[str, str] = {}
    start = e.admitted_at or (e.occurred_at if e.event in ("admission", "visit") else None)
    if start is not None:
        period["start"] = to_fhir_datetime(start)
    if e.event == "discharge" and e.occurred_at and e.status != RecordStatus.DELETED:
        period["end"] = to_fhir_datetime(e.occurred_at)
    if not period and e.occurred_at:  # an event of no known stay: when it happened, as before
        period["start"] = to_fhir_datetime(e.occurred_at)
    if period:
        res["period"] = period
    if e.occurred_at is not None:
        res["statusHistory"] = [{"status": res["status"], "period": {"start": to_fhir_datetime(e.occurred_at)}}]
    if e.location:
        where: dict[str, Any] = {"location": {"display": e.location}}
        if e.occurred_at is not None:
            where["status"] = "completed" if res["status"] == "finished" else "active"
            where["period"] = {"start": to_fhir_datetime(e.occurred_at)}
        res["location"] = [where]
    return res


def _when(text: str) -> datetime:
    return from_fhir_datetime(text)


def _latest(resource: dict[str, Any]) -> datetime | None:
    times = [_when(h["period"]["start"]) for h in resource.get("statusHistory", []) if h.get("period", {}).get("start")]
    return max(times, default=None)


def _union(first: list[Any], second: list[Any]) -> list[Any]:
    out = list(first)
    out.extend(x for x in second if x not in out)
    return out


def merge_stay(current: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """The stay after `incoming` (one event's Encounter) is applied to `current` (what the server holds).

    The event with the newest statusHistory time wins status, period.end, class, department and doctor (a
    tie goes to the incoming one: a cancellation carries the time of what it cancels); the other fills
    what the winner lacks. History, identifiers, event types and wards are unions; the stay starts at the
    earliest start either knows. A current stay without history (written before) yields to the event."""
    now, then = _latest(incoming), _latest(current)
    newer = then is None or (now is not None and now >= then)
    winner, other = (incoming, current) if newer else (current, incoming)
    out = {k: copy.deepcopy(v) for k, v in winner.items() if k not in ("meta", "id")}
    out["resourceType"], out["id"], out["meta"] = "Encounter", incoming["id"], copy.deepcopy(incoming["meta"])
    for key in ("serviceType", "participant", "class", "subject"):
        if key not in out and key in other:
            out[key] = copy.deepcopy(other[key])
    out["identifier"] = _union(incoming.get("identifier", []), current.get("identifier", []))
    out["type"] = _union(current.get("type", []), incoming.get("type", []))
    history = _union(current.get("statusHistory", []), incoming.get("statusHistory", []))
    if history:
        out["statusHistory"] = sorted(history, key=lambda h: _when(h["period"]["start"]))
    starts = [r["period"]["start"] for r in (current, incoming) if r.get("period", {}).get("start")]
    period = {"start": min(starts, key=_when)} if starts else {}
    if winner.get("period", {}).get("end"):
        period["end"] = winner["period"]["end"]
    if period:
        out["period"] = period
    else:
        out.pop("period", None)
    wards = [w for w in _union(current.get("location", []), incoming.get("location", []))]
    if wards:
        out["location"] = _wards(wards, finished=out.get("status") == "finished")
    return out


def _wards(wards: list[dict[str, Any]], finished: bool) -> list[dict[str, Any]]:
    """Wards in time order, one entry per (ward, since): the newest active unless the stay is finished."""
    timed = sorted((w for w in wards if w.get("period", {}).get("start")), key=lambda w: _when(w["period"]["start"]))
    untimed = [w for w in wards if not w.get("period", {}).get("start")]
    out = []
    for i, w in enumerate(timed):
        entry = copy.deepcopy(w)
        entry["status"] = "active" if i == len(timed) - 1 and not finished else "completed"
        out.append(entry)
    return out + [copy.deepcopy(w) for w in untimed if w not in out]

"""Resources made of a file's results together (JPCoreConverter.convert_partitioned uses both).

    ecgs, folded = fold_ecgs(conv, records, valid)      # before the records are converted one by one
    reports = lab_reports(conv, resources, valid)        # after, from the checked resources

- ECG (JP Core 1.2 only: JP_Observation_Electrocardiogram is new in 1.2): the results of one physiology order
  that is an ECG (a JLAC10 心電図 code 9A1xx, or MFER measurement codes 99MFR, as OMG-13 carries them) become
  one Observation: category procedure, code LOINC 11524-6 "EKG Study" (both fixed by the profile), each
  measurement a component, each finding text a note. Under 1.1.x they stay JP_Observation_Common.
- Lab results: the JP_Observation_LabResult observations of one order become the `result` list of one
  JP_DiagnosticReport_LabResult (category LAB, fixed by the profile), code LOINC 11502-2 "Laboratory report",
  effective the earliest specimen time, status from its results, `specimen` the Specimens its results reference.
A lab report groups only results that passed their own checks: a quarantined result is in no report. A
grouped resource that fails its own checks is not made: the ECG's records then go one by one, a lab order
goes without a report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._ids import resource_id
from renkei.connectors.fhir._time import from_fhir_datetime
from renkei.errors import InputError
from renkei.records import Observation, Record

if TYPE_CHECKING:
    from renkei.connectors.fhir.jpcore import JPCoreConverter

ECG_PROFILE = S.JP + "JP_Observation_Electrocardiogram"
LAB_REPORT_PROFILE = S.JP + "JP_DiagnosticReport_LabResult"
ECG_CODE = {"system": "http://loinc.org", "code": "11524-6", "display": "EKG Study"}
ECG_CATEGORY = {"system": S.SIMPLE_OBS_CATEGORY, "code": "procedure", "display": "Procedure"}
LAB_REPORT_CODE = {"system": "http://loinc.org", "code": "11502-2", "display": "Laboratory report"}
LAB_SECTION = {"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}
MFER_NAMES = ("99MFR", "MFER")  # the HL7 v2 coding-system names SS-MIX2 exports give MFER codes
ECG_VERSIONS = ("1.2.0",)


def _order_no(res: dict[str, Any]) -> str:
    return next((i["value"] for i in res.get("identifier", []) if i.get("system") == S.ORDER_NO), "")


def _profile(res: dict[str, Any]) -> str:
    return str(((res.get("meta") or {}).get("profile") or [""])[0]).split("|")[0]


def _status(results: list[dict[str, Any]], *, report: bool) -> str:
    statuses = {r["status"] for r in results}
    if statuses == {"entered-in-error"}:
        return "entered-in-error"
    statuses.discard("entered-in-error")
    if statuses <= {"final"}:
        return "final"
    if statuses <= {"final", "amended", "corrected"}:
        return "amended" if report or "amended" in statuses else "corrected"
    if statuses & {"preliminary", "registered"}:
        return "partial" if report else "preliminary"
    return "unknown"


def _earliest(results: list[dict[str, Any]]) -> str | None:
    times = [r["effectiveDateTime"] for r in results if r.get("effectiveDateTime")]
    return min(times, key=from_fhir_datetime) if times else None


def _base(conv: JPCoreConverter, rtype: str, key: str, profile: str, order_no: str) -> dict[str, Any]:
    rid = resource_id(conv.facility_code, conv.source_system, rtype, key)
    return {
        "resourceType": rtype,
        "id": rid,
        "meta": {"profile": [S.pinned(profile, conv.jp_core_version)]},
        "identifier": [{"system": S.RECORD_ID, "value": rid}, {"system": S.ORDER_NO, "value": order_no}],
    }


Groups = dict[tuple[str, str], list[dict[str, Any]]]


def _groups(resources: list[dict[str, Any]], wanted: Callable[[dict[str, Any]], bool]) -> Groups:
    groups: Groups = {}
    for res in resources:
        if res["resourceType"] == "Observation" and _order_no(res) and wanted(res):
            groups.setdefault((res["subject"]["reference"], _order_no(res)), []).append(res)
    return groups


def _finding(m: dict[str, Any]) -> str:
    label = m["code"].get("text") or ""
    return f"{label}: {m['valueString']}" if label else m["valueString"]


def _record_id(res: dict[str, Any]) -> dict[str, str]:
    return {"system": S.RECORD_ID, "value": res["id"]}


def ecg_observation(conv: JPCoreConverter, members: list[dict[str, Any]]) -> dict[str, Any]:
    order_no = _order_no(members[0])
    pid = members[0]["subject"]["identifier"]["value"]
    res = _base(conv, "Observation", f"{pid}|ecg|{order_no}", ECG_PROFILE, order_no)
    res["status"] = _status(members, report=False)  # the members' own checks are skipped: see fold_ecgs
    res["category"] = [{"coding": [dict(ECG_CATEGORY)]}]
    res["code"] = {"coding": [dict(ECG_CODE)]}
    res["subject"] = members[0]["subject"]
    when = _earliest(members)
    if when:
        res["effectiveDateTime"] = when
    components = [{"code": m["code"], "valueQuantity": m["valueQuantity"]} for m in members if "valueQuantity" in m]
    if components:
        res["component"] = components
    notes = [{"text": _finding(m)} for m in members if "valueString" in m]
    if notes:
        res["note"] = notes
    return res


def lab_report(conv: JPCoreConverter, results: list[dict[str, Any]]) -> dict[str, Any]:
    order_no = _order_no(results[0])
    pid = results[0]["subject"]["identifier"]["value"]
    res = _base(conv, "DiagnosticReport", f"{pid}|lab|{order_no}", LAB_REPORT_PROFILE, order_no)
    res["basedOn"] = [{"type": "ServiceRequest", "identifier": {"system": S.ORDER_NO, "value": order_no}}]
    res["status"] = _status(results, report=True)
    res["category"] = [{"coding": [dict(LAB_SECTION)]}]
    res["code"] = {"coding": [dict(LAB_REPORT_CODE)]}
    res["subject"] = results[0]["subject"]
    when = _earliest(results)
    if when:
        res["effectiveDateTime"] = when
    res["result"] = [
        {"reference": f"Observation/{r['id']}", "type": "Observation", "identifier": _record_id(r)} for r in results
    ]
    specimens = {r["specimen"]["reference"]: r["specimen"] for r in results if "specimen" in r}
    if specimens:  # the results' specimens (OUL^R22 SPM, _specimen.py), each once
        res["specimen"] = list(specimens.values())
    return res


def _ecg_record(r: Record) -> bool:
    system = r.code.system.upper()
    return system in MFER_NAMES or (system == "JC10" and r.code.code.startswith("9A1"))


def fold_ecgs(
    conv: JPCoreConverter, records: list[Record], valid: Callable[[dict[str, Any]], bool]
) -> tuple[dict[int, dict[str, Any]], set[int]]:
    """({index of an ECG order's first record: its ECG Observation}, indexes of the records folded into one).

    Built from the records, not from checked resources: the finding's JLAC10 code (9A100&IMP) only labels a
    note here, so the check that code would fail on its own does not apply. An ECG that fails its own checks
    is not made; its records then go (or are refused) one by one."""
    if conv.jp_core_version not in ECG_VERSIONS:
        return {}, set()
    orders: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(records):
        if isinstance(r, Observation) and r.order_no:
            orders.setdefault((r.patient_id, r.order_no), []).append(i)
    made: dict[int, dict[str, Any]] = {}
    folded: set[int] = set()
    for idxs in orders.values():
        if not any(_ecg_record(records[i]) for i in idxs):
            continue
        members = []
        for i in idxs:
            try:
                members.append(conv.convert(records[i]))
            except InputError:
                continue
        ecg = ecg_observation(conv, members) if members else None
        if ecg is not None and valid(ecg):
            made[idxs[0]] = ecg
            folded.update(idxs)
    return made, folded


def lab_reports(
    conv: JPCoreConverter, resources: list[dict[str, Any]], valid: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """One JP_DiagnosticReport_LabResult per order of the (checked) JP_Observation_LabResult resources."""
    labs = S.PROFILE["Observation.lab"]
    reports = [lab_report(conv, results) for results in _groups(resources, lambda r: _profile(r) == labs).values()]
    return [r for r in reports if valid(r)]

"""Medication records -> MedicationRequest (JP_MedicationRequest[_Injection]) or MedicationAdministration.

A prescription or injection order carries JP Core's `identifier[rpNumber]` (ORC-4) and
`identifier[orderInRp]` (the drug's place in its RP), `authoredOn` (ORC-9), the dose unit as a MERIT-9
coding when the source names it (MR9P), the JAMI usage code (TQ1-3, JAMISDP01) as dosage timing.code
and the days supplied (TQ1-6) as dispenseRequest.expectedSupplyDuration. An injection order names its
drug by a contained JP_Medication, since JP_MedicationRequest_Injection allows only a Reference there.
Systems follow the configured JP Core version (1.1.x OIDs, 1.2 URLs; see _systems.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._shapes import number
from renkei.connectors.fhir._time import to_fhir_datetime
from renkei.connectors.fhir._units import quantity
from renkei.errors import InputError
from renkei.records import Coding, Medication, RecordStatus

if TYPE_CHECKING:
    from renkei.connectors.fhir.jpcore import JPCoreConverter

MERIT9_NAMES = ("MR9P", "MERIT9")
JAMI_USAGE_NAMES = ("JAMISDP01",)


def _dose(conv: JPCoreConverter, m: Medication, value: float | int) -> dict[str, Any]:
    if m.dose_unit and m.dose_unit_system.upper() in MERIT9_NAMES:
        system = S.MERIT9_UNIT[conv.jp_core_version]
        return {"value": value, "unit": m.dose_unit, "system": system, "code": m.dose_unit}
    return quantity(value, m.dose_unit)


def _dosage(conv: JPCoreConverter, m: Medication) -> dict[str, Any]:
    dosage: dict[str, Any] = {}
    if m.timing:
        dosage["text"] = m.timing
    timing: dict[str, Any] = {}
    if m.start or m.end:
        timing["repeat"] = {
            "boundsPeriod": {k: to_fhir_datetime(v) for k, v in (("start", m.start), ("end", m.end)) if v}
        }
    if m.usage is not None and m.usage.code:
        system = (
            S.JAMI_USAGE[conv.jp_core_version]
            if m.usage.system.upper() in JAMI_USAGE_NAMES
            else S.system_url(m.usage.system)
        )
        usage = {"system": system, "code": m.usage.code} if system else {"code": m.usage.code}
        if m.usage.display:
            usage["display"] = m.usage.display
        timing["code"] = {"coding": [usage], **({"text": m.usage.display} if m.usage.display else {})}
    if timing:
        dosage["timing"] = timing
    if m.route:
        dosage["route"] = conv.concept(Coding(m.route, "", "HL70162"))
    dose = number(m.dose)
    if dose is not None:
        dosage["doseAndRate"] = [{"doseQuantity": _dose(conv, m, dose)}]
    elif m.dose:
        dosage["text"] = (dosage.get("text", "") + f" {m.dose}{m.dose_unit}").strip()
    return dosage


def _contained_drug(conv: JPCoreConverter, m: Medication) -> dict[str, Any]:
    return {
        "resourceType": "Medication",
        "id": "medication",
        "meta": {"profile": [S.pinned(S.MEDICATION_PROFILE, conv.jp_core_version)]},
        "code": conv.concept(m.drug),
    }


def medication(conv: JPCoreConverter, m: Medication) -> dict[str, Any]:
    dosage = _dosage(conv, m)
    deleted = m.status == RecordStatus.DELETED
    if m.activity in ("administration", "injection_administration"):
        injection = m.activity == "injection_administration"
        key = "MedicationAdministration.injection" if injection else "MedicationAdministration"
        res = conv._base("MedicationAdministration", m, S.PROFILE[key])
        res["status"] = "entered-in-error" if deleted else "completed"
        if injection:
            res["contained"] = [_contained_drug(conv, m)]
            res["medicationReference"] = {"reference": "#medication"}
        else:
            res["medicationCodeableConcept"] = conv.concept(m.drug)
        res["subject"] = conv.patient_reference(m.patient_id)
        when = m.start or m.end
        if when is None:
            raise InputError(f"fhir: administration {m.record_key or m.order_no}: no administration time")
        res["effectiveDateTime"] = to_fhir_datetime(when)
        admin_dosage = {k: v for k, v in dosage.items() if k in ("text", "route")}
        if "doseAndRate" in dosage:
            admin_dosage["dose"] = dosage["doseAndRate"][0]["doseQuantity"]
        if admin_dosage:
            res["dosage"] = admin_dosage
    else:
        injection = m.activity == "injection"
        res = conv._base(
            "MedicationRequest", m, S.PROFILE["MedicationRequest.injection" if injection else "MedicationRequest"]
        )
        if m.rp_number:
            res["identifier"].append({"system": S.RP_NUMBER[conv.jp_core_version], "value": m.rp_number})
        if m.order_in_rp:
            res["identifier"].append({"system": S.ORDER_IN_RP[conv.jp_core_version], "value": str(m.order_in_rp)})
        res["status"] = "entered-in-error" if deleted else "active"
        res["intent"] = "order"
        if injection:
            # JP_MedicationRequest_Injection: medication[x] only Reference(JP_Medication); the drug travels with
            # the request as a contained Medication.
            res["contained"] = [_contained_drug(conv, m)]
            res["medicationReference"] = {"reference": "#medication"}
        else:
            res["medicationCodeableConcept"] = conv.concept(m.drug)
        res["subject"] = conv.patient_reference(m.patient_id)
        if m.authored_at:
            res["authoredOn"] = to_fhir_datetime(m.authored_at)
        if dosage:
            res["dosageInstruction"] = [dosage]
        days = number(m.supply_days)
        if days is not None:
            supply = {"value": days, "unit": "日", "system": S.UCUM, "code": "d"}
            res["dispenseRequest"] = {"expectedSupplyDuration": supply}
    if m.order_no:
        res["identifier"].append({"system": S.ORDER_NO, "value": m.order_no})
    return res

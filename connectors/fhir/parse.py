"""FHIR R4 JSON -> canonical records (the FHIR source's parser): Patient, Observation, Condition, Allergy.

The inverse of jpcore.py for what renkei writes, and tolerant of what other servers write:
  - patient id: the Patient's (or the reference's) identifier with the facility system, else the first
    identifier; a reference without one is resolved through `resolve_patient` (the source passes a
    cached read of the Patient);
  - record_key: the `urn:renkei:record-key` identifier when present, else "<type>/<server id>";
  - codes: JP Core URLs back to HL7 v2 names (JC10, HOT9, MDCDX2, I10 …);
  - times: naive Japan time (see _time.py).
Anything else raises FhirParseError (an InputError: the item is quarantined with that reason).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._time import from_fhir_date, from_fhir_datetime
from renkei.connectors.fhir.jpcore import NO_REACTION_TEXT
from renkei.errors import InputError
from renkei.records import (
    Allergy,
    Coding,
    Condition,
    Observation,
    Patient,
    Record,
    RecordStatus,
)


class FhirParseError(InputError):
    pass


_SEX = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
_RESULT = {"final": "F", "preliminary": "P", "corrected": "C", "amended": "A", "cancelled": "X", "registered": "I"}
_SEVERITY = {"mild": "MI", "moderate": "MO", "severe": "SV"}
# AllergyIntolerance.category -> HL7 v2 table 0127 (AL1-2) with the name SS-MIX2 exports give it.
_CATEGORY = {
    "medication": ("DA", "薬剤アレルギー"),
    "food": ("FA", "食物アレルギー"),
    "environment": ("EA", "環境アレルギー"),
    "biologic": ("AA", "動物アレルギー"),
}

PatientResolver = Callable[[str], str]  # "Patient/<id>" -> patient id


class FhirToCanonical:
    def __init__(self, facility_system: str = "", resolve_patient: PatientResolver | None = None) -> None:
        self.facility_system = facility_system
        self.resolve_patient = resolve_patient
        self._table: dict[str, Callable[[dict[str, Any]], Record]] = {
            "Patient": self.patient,
            "Observation": self.observation,
            "Condition": self.condition,
            "AllergyIntolerance": self.allergy,
        }

    def parse(self, resource: dict[str, Any]) -> list[Record]:
        rtype = resource.get("resourceType")
        build = self._table.get(rtype) if isinstance(rtype, str) else None
        if build is None:
            raise FhirParseError(f"fhir: no canonical mapping for resourceType {rtype!r}")
        try:
            return [build(resource)]
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            where = f"{rtype}/{resource.get('id', '?')}"
            raise FhirParseError(f"fhir: {where}: malformed ({type(exc).__name__} at {exc})") from exc

    # -- helpers -------------------------------------------------------------------------------------
    def _pick_identifier(self, identifiers: list[dict[str, Any]]) -> str:
        for ident in identifiers:
            if self.facility_system and ident.get("system") == self.facility_system and ident.get("value"):
                return ident["value"]
        for ident in identifiers:
            if ident.get("system", "").startswith(S.PATIENT_ID_OID_PREFIX) and ident.get("value"):
                return ident["value"]
        own = (S.RECORD_ID, S.RECORD_KEY)
        for ident in identifiers:
            if ident.get("value") and ident.get("system") not in own:
                return ident["value"]
        return ""

    def _patient_of(self, resource: dict[str, Any], field: str) -> str:
        ref = resource.get(field) or {}
        ident = ref.get("identifier")
        if ident and ident.get("value"):
            return ident["value"]
        reference = ref.get("reference", "")
        if reference.startswith("Patient/") and self.resolve_patient:
            return self.resolve_patient(reference)
        where = f"{resource['resourceType']}/{resource.get('id', '?')}.{field}"
        raise FhirParseError(f"fhir: {where}: no patient identifier and no resolvable Patient reference")

    @staticmethod
    def _record_key(resource: dict[str, Any]) -> str:
        for ident in resource.get("identifier", []):
            if ident.get("system") == S.RECORD_KEY:
                return ident["value"]
        return f"{resource['resourceType']}/{resource.get('id', '')}"

    @staticmethod
    def _coding(c: dict[str, Any]) -> Coding:
        return Coding(c.get("code", ""), c.get("display", ""), S.v2_name(c.get("system", "")))

    @staticmethod
    def _value(q: dict[str, Any]) -> str:
        v = q.get("value")
        return "" if v is None else str(v)

    # -- per resource type -----------------------------------------------------------------------------
    def patient(self, r: dict[str, Any]) -> Patient:
        kanji = kana = ""
        for name in r.get("name", []):
            reps = {e.get("valueCode") for e in name.get("extension", []) if e.get("url") == S.EN_REPRESENTATION}
            text = name.get("text") or " ".join([name.get("family", ""), *name.get("given", [])]).strip()
            if "SYL" in reps and not kana:
                kana = text
            elif not kanji and "SYL" not in reps:
                kanji = text
        addr = (r.get("address") or [{}])[0]
        return Patient(
            patient_id=self._pick_identifier(r.get("identifier", [])),
            record_key=next(
                (i["value"] for i in r.get("identifier", []) if i.get("system") == S.RECORD_KEY),
                f"Patient/{r.get('id', '')}",
            ),
            status=RecordStatus.DELETED if r.get("active") is False else RecordStatus.CURRENT,
            name_kanji=kanji,
            name_kana=kana,
            birth_date=from_fhir_date(r["birthDate"]) if r.get("birthDate") else None,
            sex=_SEX.get(r.get("gender", ""), ""),
            postcode=addr.get("postalCode", ""),
            address=addr.get("text", ""),
            phones=[t["value"] for t in r.get("telecom", []) if t.get("system") == "phone" and t.get("value")],
        )

    def observation(self, r: dict[str, Any]) -> Observation:
        codings = [self._coding(c) for c in r.get("code", {}).get("coding", [])]
        if not codings:
            codings = [Coding("", r.get("code", {}).get("text", ""), "")]
        unit = ""
        value, value_type = "", "ST"
        if "valueQuantity" in r:
            q = r["valueQuantity"]
            value, value_type, unit = self._value(q), "NM", q.get("unit", q.get("code", ""))
        elif "valueString" in r:
            value = r["valueString"]
        elif "valueCodeableConcept" in r:
            value, value_type = r["valueCodeableConcept"].get("text", ""), "CWE"
        interp = (r.get("interpretation") or [{}])[0]
        flag = (interp.get("coding") or [{}])[0].get("code", "") or interp.get("text", "")
        rng = (r.get("referenceRange") or [{}])[0]
        status = r.get("status", "")
        return Observation(
            patient_id=self._patient_of(r, "subject"),
            record_key=self._record_key(r),
            status=RecordStatus.DELETED if status == "entered-in-error" else RecordStatus.CURRENT,
            code=codings[0],
            local_code=codings[1] if len(codings) > 1 else None,
            value=value,
            value_type=value_type,
            unit=unit,
            reference_range=rng.get("text", ""),
            abnormal_flag=flag,
            effective=from_fhir_datetime(r["effectiveDateTime"]) if r.get("effectiveDateTime") else None,
            result_status=_RESULT.get(status, ""),
            device_id=(r.get("device") or {}).get("identifier", {}).get("value", ""),
            order_no=next((i["value"] for i in r.get("identifier", []) if i.get("system") == S.ORDER_NO), ""),
        )

    def condition(self, r: dict[str, Any]) -> Condition:
        main: Coding | None = None
        icd = ""
        for c in r.get("code", {}).get("coding", []):
            coding = self._coding(c)
            if coding.system == "I10" and not icd:
                icd = coding.code
            elif main is None:
                main = coding
        if main is None:
            main = Coding("", r.get("code", {}).get("text", ""), "")
        mods = []
        # JP Core puts them on Condition.code (their context); older renkei output had them on Condition.
        for ext in [*r.get("code", {}).get("extension", []), *r.get("extension", [])]:
            if ext.get("url") in (S.PREFIX_MODIFIER, S.POSTFIX_MODIFIER):
                for c in ext.get("valueCodeableConcept", {}).get("coding", []):
                    m = self._coding(c)
                    mods.append(
                        Coding(m.code, m.display, "MDCDX2" if c.get("system") == S.MEDIS_MODIFIER else m.system)
                    )
        ver = (r.get("verificationStatus") or {}).get("coding", [{}])[0].get("code", "")
        return Condition(
            patient_id=self._patient_of(r, "subject"),
            record_key=self._record_key(r),
            status=RecordStatus.DELETED if ver == "entered-in-error" else RecordStatus.CURRENT,
            code=main,
            icd10=icd,
            modifiers=mods,
            onset=from_fhir_date(r["onsetDateTime"]) if r.get("onsetDateTime") else None,
            clinical_status=_outcome(r) or (r.get("clinicalStatus") or {}).get("coding", [{}])[0].get("code", ""),
        )

    def allergy(self, r: dict[str, Any]) -> Allergy:
        # JP Core carries the allergy's kind only as category/type (no extension for the v2 table 0127 type), so
        # a pollen or plant allergy (LA, PA) reads back as the environmental allergy (EA) it was sent as.
        code, name = _CATEGORY.get((r.get("category") or [""])[0], ("", ""))
        category = Coding(code, name, "HL70127")
        codings = r.get("code", {}).get("coding", [])
        allergen = self._coding(codings[0]) if codings else Coding("", r.get("code", {}).get("text", ""), "")
        reaction = (r.get("reaction") or [{}])[0]
        text = (reaction.get("manifestation") or [{}])[0].get("text", "")
        ver = (r.get("verificationStatus") or {}).get("coding", [{}])[0].get("code", "")
        return Allergy(
            patient_id=self._patient_of(r, "patient"),
            record_key=self._record_key(r),
            status=RecordStatus.DELETED if ver == "entered-in-error" else RecordStatus.CURRENT,
            category=category,
            allergen=allergen,
            severity=_SEVERITY.get(reaction.get("severity", ""), ""),
            reaction="" if text == NO_REACTION_TEXT else text,
        )


def _outcome(r: dict[str, Any]) -> str:
    """The PRB-14 outcome code renkei put in JP_Condition_DiseaseOutcome, so a read-back restores it."""
    for ext in r.get("extension", []):
        if ext.get("url") == S.DISEASE_OUTCOME:
            for c in (ext.get("valueCodeableConcept") or {}).get("coding", []):
                if c.get("system") == S.HL70241 and c.get("code"):
                    return str(c["code"])
    return ""

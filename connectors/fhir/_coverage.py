"""A Patient's NK1 contacts (Patient.contact) and IN1 insurances (Coverage, JP_Coverage).

Contact: name (kanji IDE, kana SYL as on Patient.name), relationship (HL7 table 0063 as given), phones,
address, organization (NK1-13 as a display). Coverage: one per IN1, keyed by patient + insurer number +
plan: status, type (SS-MIX2 insurance type, JHSD0001), beneficiary the patient, payor the insurer by its
number (保険者番号: JP Core's OID in 1.1.x, URL in 1.2; aliases-jpcore.fsh), relationship (HL7 0063 SEL ->
subscriber-relationship self) and the period (IN1-12/13).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._ids import resource_id
from renkei.connectors.fhir._shapes import split_name
from renkei.records import Patient, RecordStatus

if TYPE_CHECKING:
    from renkei.connectors.fhir.jpcore import JPCoreConverter

INSURER_NUMBER = {
    "1.1.2": "urn:oid:1.2.392.100495.20.3.61",
    "1.2.0": "http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsurerNumber",
}
V2_0063 = "http://terminology.hl7.org/CodeSystem/v2-0063"
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
_RELATIONSHIP = {"SEL": "self", "SPO": "spouse", "CHD": "child", "PAR": "parent"}  # HL7 0063 -> FHIR


def _names(kanji: str, kana: str) -> dict[str, Any] | None:
    """Patient.contact.name is 0..1: the kanji name, else the kana one."""
    text, rep = (kanji, "IDE") if kanji else (kana, "SYL")
    if not text:
        return None
    family, given = split_name(text)
    name: dict[str, Any] = {
        "extension": [{"url": S.EN_REPRESENTATION, "valueCode": rep}], "use": "official", "text": text,
        "family": family,
    }  # fmt: skip
    if given:
        name["given"] = [given]
    return name


def patient_contacts(p: Patient) -> list[dict[str, Any]]:
    out = []
    for c in p.contacts:
        contact: dict[str, Any] = {}
        if c.get("relationship"):
            coding = {"system": V2_0063, "code": c["relationship"]}
            if c.get("relationship_display"):
                coding["display"] = c["relationship_display"]
            contact["relationship"] = [{"coding": [coding]}]
        name = _names(c.get("name", ""), c.get("name_kana", ""))
        if name:
            contact["name"] = name
        phones = [{"system": "phone", "value": c["phone"], "use": "home"}] if c.get("phone") else []
        phones += [{"system": "phone", "value": c["work_phone"], "use": "work"}] if c.get("work_phone") else []
        if phones:
            contact["telecom"] = phones
        if c.get("address") or c.get("postcode"):
            addr = {k: v for k, v in (("text", c.get("address")), ("postalCode", c.get("postcode"))) if v}
            contact["address"] = {**addr, "country": "JP"}
        if c.get("organization"):
            contact["organization"] = {"display": c["organization"]}
        # R4 pat-1: a contact has a name, telecom, address or organization (a relationship alone is not one)
        if any(k in contact for k in ("name", "telecom", "address", "organization")):
            out.append(contact)
    return out


def _date(yyyymmdd: str) -> str:
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:8]}" if len(yyyymmdd) == 8 and yyyymmdd.isdigit() else ""


def coverages(conv: JPCoreConverter, p: Patient) -> list[dict[str, Any]]:
    out = []
    for c in p.coverages:
        if not (c.get("insurer") or c.get("plan")):
            continue
        rid = resource_id(conv.facility_code, conv.source_system, "Coverage",
                          f"{p.patient_id}|{c.get('insurer', '')}|{c.get('plan', '')}")  # fmt: skip
        res: dict[str, Any] = {
            "resourceType": "Coverage", "id": rid,
            "meta": {"profile": [S.pinned(S.PROFILE["Coverage"], conv.jp_core_version)]},
            "identifier": [{"system": S.RECORD_ID, "value": rid}],
            "status": "entered-in-error" if p.status == RecordStatus.DELETED else "active",
        }  # fmt: skip
        if c.get("plan"):
            coding = {"system": S.system_url(c.get("plan_system") or "JHSD0001"), "code": c["plan"]}
            if c.get("plan_display"):
                coding["display"] = c["plan_display"]
            res["type"] = {"coding": [coding], **({"text": c["plan_display"]} if c.get("plan_display") else {})}
        res["beneficiary"] = conv.patient_reference(p.patient_id)
        relation = _RELATIONSHIP.get(c.get("relationship", "").upper())
        if relation:
            res["relationship"] = {"coding": [{"system": SUBSCRIBER_RELATIONSHIP, "code": relation}]}
        period = {k: d for k, d in (("start", _date(c.get("start", ""))), ("end", _date(c.get("end", "")))) if d}
        if period:
            res["period"] = period
        insurer = c.get("insurer")
        number = {"system": INSURER_NUMBER[conv.jp_core_version], "value": insurer}
        payor = {"type": "Organization", "identifier": number}
        res["payor"] = [payor if insurer else {"display": c.get("plan_display") or c.get("plan", "")}]
        out.append(res)
    return out

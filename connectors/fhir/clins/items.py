"""The six clinical information items (6情報) of JP-CLINS, from canonical records via the JP Core builders.

    items = ClinsItems(converter)                # a JPCoreConverter (connectors/fhir/jpcore.py)
    built = items.build(records)                 # Built: resources per item kind + refused records

Each record is converted by the JP Core converter (and checked with its R4B, code and JP Core rule
checks); this module only decides which item a resource is and adds what JP-CLINS asks on top:

    傷病名     Condition                          condition
    アレルギー  AllergyIntolerance                  allergy
    薬剤禁忌   AllergyIntolerance, category medication + criticality high (JP_DrugContraIndication_eCS):
              a drug allergy (HL7 table 0127 DA/MA) whose AL1-4 severity is in `contraindication_severities`
    感染症     Observation, JLAC10 analyte of the CLINS infection lab set (INFECTION_ANALYTES)
    検査       Observation of the JP_Observation_LabResult profile
    処方       MedicationRequest of a prescription (injections and administrations are not 処方情報)

Every item resource also gets the eCS profile in meta.profile (beside its JP Core one) and the
JP_eCS_InstitutionNumber extension (JP_Bundle_CLINS R9011). Records of other kinds are kept for the
documents (patient, encounter, document, physical = vital signs and body measurements). Deleted records
(entered-in-error) are left out: a document states what is current.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from renkei.connectors.fhir.clins import _systems as C
from renkei.connectors.fhir.jpcore import JPCoreConverter
from renkei.connectors.fhir.validate import check_resource
from renkei.errors import InputError
from renkei.records import Allergy, Medication, Record, RecordStatus

DRUG_ALLERGY_TYPES = ("DA", "MA")  # HL7 table 0127: drug allergy, miscellaneous (medication) allergy


@dataclass
class Built:
    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # kind -> resources, in record order
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (record index, kind, reason)

    def of(self, *kinds: str) -> list[dict[str, Any]]:
        return [r for k in kinds for r in self.items.get(k, [])]


def _profile_name(resource: dict[str, Any]) -> str:
    return str((resource.get("meta") or {}).get("profile", [""])[0]).split("|")[0].rsplit("/", 1)[-1]


class ClinsItems:
    def __init__(self, converter: JPCoreConverter, contraindication_severities: tuple[str, ...] = ("SV",)) -> None:
        self.converter = converter
        self.contraindication_severities = tuple(s.upper() for s in contraindication_severities)

    def kind_of(self, record: Record, resource: dict[str, Any]) -> str | None:
        rtype, profile = resource["resourceType"], _profile_name(resource)
        if rtype == "Patient":
            return "patient"
        if rtype == "Condition":
            return "condition"
        if rtype == "AllergyIntolerance" and isinstance(record, Allergy):
            drug = record.category.code.upper() in DRUG_ALLERGY_TYPES
            return (
                "contraindication"
                if drug and record.severity.upper() in self.contraindication_severities
                else "allergy"
            )
        if rtype == "Observation":
            if profile == "JP_Observation_LabResult":
                code = next((c.get("code", "") for c in resource["code"].get("coding", [])), "")
                return "infection" if str(code)[:5] in C.INFECTION_ANALYTES else "lab"
            if profile in ("JP_Observation_VitalSigns", "JP_Observation_BodyMeasurement"):
                return "physical"
            return None
        if rtype == "MedicationRequest" and isinstance(record, Medication) and record.activity == "prescription":
            return "prescription"
        return {"Encounter": "encounter", "DocumentReference": "document"}.get(rtype)

    def build(self, records: list[Record]) -> Built:
        out = Built()
        seen: dict[str, Any] = {}  # Encounter id -> occurred_at of the event it shows
        for i, record in enumerate(records):
            if record.kind.value in ("note", "order") or record.status == RecordStatus.DELETED:
                continue  # not part of a JP-CLINS document (orders are requests, not results)
            if isinstance(record, Medication) and record.activity != "prescription":
                continue  # injections and administrations are not 処方情報
            try:
                resource = self.converter.convert(record)
                # JP-CLINS carries a lab specimen as a contained JP_Specimen, not built yet: no reference to a
                # Specimen the document does not hold (docs/fhir.md, Specimens).
                resource.pop("specimen", None)
                check_resource(resource)
                kind = self.kind_of(record, resource)
                if kind is None:
                    continue
                resource = self._decorate(kind, resource)
                check_resource(resource)
            except InputError as exc:
                out.refused.append((i, record.kind.value, str(exc)))
                continue
            bucket = out.items.setdefault(kind, [])
            if kind == "encounter":  # one Encounter per stay: the chronologically last event's state holds
                when = getattr(record, "occurred_at", None)
                earlier = [r for r in bucket if r["id"] == resource["id"]]
                if earlier and when is not None and seen.get(resource["id"]) and seen[resource["id"]] > when:
                    continue
                seen[resource["id"]] = when
                bucket[:] = [r for r in bucket if r["id"] != resource["id"]]
            else:  # the same record read twice (two files, an update) is one resource: the later reading holds
                bucket[:] = [r for r in bucket if r["id"] != resource["id"]]
            bucket.append(resource)
        return out

    def _decorate(self, kind: str, resource: dict[str, Any]) -> dict[str, Any]:
        if kind not in C.ITEM_TYPES:
            return resource
        res = copy.deepcopy(resource)
        res["meta"]["profile"].append(C.ECS_PROFILE[kind])
        res.setdefault("extension", []).append(
            {"url": C.INSTITUTION_NUMBER, "valueIdentifier": {"value": self.converter.facility_code}}
        )
        if kind == "contraindication":
            # JP_DrugContraIndication_eCS: category = #medication, criticality = #high, code.text 1..1,
            # identifier 0..1 of resourceInstance-identifier (so the JP Core record-id/-key pair becomes one).
            res["category"] = ["medication"]
            res["criticality"] = "high"
            text = res["code"].get("text") or next((c.get("display") for c in res["code"].get("coding", [])), "")
            if not text:
                raise InputError(
                    "fhir-clins: drug contraindication has no drug name (AL1-3 text): code.text is required"
                )
            res["code"]["text"] = text
            res["identifier"] = [{"system": C.RESOURCE_INSTANCE, "value": res["id"]}]
        return res

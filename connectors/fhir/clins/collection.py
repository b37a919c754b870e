"""JP-CLINS 6情報 submission: JP_Bundle_CLINS collection bundles, one per resource type.

    bundles, refused = six_item_bundles(items, "001000003", records, insured_id="06139877:記号:番号:00", at=now)

JP_Bundle_CLINS (clinical-core CLINS/JP_Bundle_CLINS.fsh) holds the Patient first and then the resources of
ONE type, named in meta.tag (R02141-R02144): so 傷病名 (Condition), アレルギー + 薬剤禁忌 (AllergyIntolerance),
感染症 + 検査 (Observation) and 処方 (MedicationRequest) go as up to four bundles. Its identifier
`<医療機関番号>^<被保険者個人識別子>^<number>` is how the service finds an earlier submission to replace, so the
number is stable per patient and type: sending again replaces, never duplicates. The bundle skeleton comes
from the level-4 spec mappings/specs/clins_six_items_bundle.yaml; every bundle is checked before it returns.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime
from typing import Any

from renkei.connectors.fhir._ids import RENKEI_NS
from renkei.connectors.fhir.clins.documents import (
    rewrite_references,
    split_patient,
    timestamp,
    urn,
    with_insured_id,
)
from renkei.connectors.fhir.clins.items import ClinsItems
from renkei.connectors.fhir.clins.rules import check_bundle
from renkei.errors import InputError
from renkei.mappings import load_mapping
from renkei.records import Record

BY_TYPE = {
    "Condition": ("condition",),
    "AllergyIntolerance": ("allergy", "contraindication"),
    "Observation": ("infection", "lab"),
    "MedicationRequest": ("prescription",),
}
INSURED_ID = r"[0-9]{8}:[^:\s　]*:[^:\s　]*:0[0-9]"  # InvariantsRules.fsh valid-value-insurance-patientIdentifier


def bundle_number(facility: str, patient_id: str, resource_type: str) -> str:
    digest = hashlib.sha256(f"{facility}|{patient_id}|{resource_type}".encode()).hexdigest()[:24].upper()
    return f"{resource_type.upper()}-{digest}"


def six_item_bundles(
    items: ClinsItems, patient_id: str, records: list[Record], *, insured_id: str, at: datetime
) -> tuple[list[dict[str, Any]], list[tuple[int, str, str]]]:
    if not re.fullmatch(INSURED_ID, insured_id or ""):
        raise InputError(
            "fhir-clins: 6情報 bundles need insured_id (被保険者個人識別子) as 保険者番号(8):記号:番号:枝番(0n)"
        )
    mine, refused = split_patient(records, patient_id)
    index = [i for i, r in enumerate(records) if r.patient_id == patient_id]
    built = items.build(mine)
    refused += [(index[i], kind, why) for i, kind, why in built.refused]
    # JP_Bundle_CLINS condition-needs-onsetDateTime: a Condition without its onset is refused on its own.
    dated = [c for c in built.items.get("condition", []) if c.get("onsetDateTime")]
    undated = [c for c in built.items.get("condition", []) if not c.get("onsetDateTime")]
    built.items["condition"] = dated
    for c in undated:
        key = next((i.get("value") for i in c.get("identifier", []) if i.get("system", "").endswith("record-key")), "")
        where = next((index[j] for j, r in enumerate(mine) if r.record_key and r.record_key == key), -1)
        refused.append((where, "condition", "fhir-clins: 6情報 Condition needs onsetDateTime (PRB-16 onset date)"))
    patients = built.of("patient")
    if len(patients) != 1:
        raise InputError(f"fhir-clins: 6情報 need the patient's Patient record (ADT-00), found {len(patients)}")
    patient = with_insured_id(patients[0], insured_id, items.converter.facility_code)
    facility = items.converter.facility_code
    spec = load_mapping("clins_six_items_bundle")
    out = []
    for rtype, kinds in BY_TYPE.items():
        resources = built.of(*kinds)
        if not resources:
            continue
        number = bundle_number(facility, patient_id, rtype)
        local = {f"{r['resourceType']}/{r['id']}": urn(r) for r in [patient, *resources]}
        facts = {
            "id": str(uuid.uuid5(RENKEI_NS, f"clins-six|{facility}|{insured_id}|{number}")),
            "timestamp": timestamp(at),
            "resource_type": rtype,
            "facility_code": facility,
            "insured_id": insured_id,
            "number": number,
            "entries": [{"fullUrl": urn(r), "resource": rewrite_references(r, local)} for r in [patient, *resources]],
        }
        bundle = spec.apply(facts)
        check_bundle(bundle)
        out.append(bundle)
    if not out:
        raise InputError("fhir-clins: the records hold none of the six clinical information items")
    return out, refused

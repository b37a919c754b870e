"""JP-CLINS FHIR documents: 診療情報提供書, 退院時サマリー and 健診結果報告書 as document Bundles.

    docs = ClinsDocuments(converter, Author("〇〇病院", "医師 一郎", "D001"))
    bundle = docs.build(DocumentRequest(kind="ereferral", patient_id="001000003", issued_at=..., ...), records)

The entries are the JP Core resources of connectors/fhir/jpcore.py (via items.py, which adds the JP-CLINS
item profile and extension); the Composition comes from the level-4 mapping spec of the document
(mappings/specs/clins_*_composition.yaml), fed with the document's facts and each entry's fullUrl and item
kind. The Bundle: type document, the Composition first, every fullUrl `urn:uuid:<resource id>`, every
reference between entries rewritten to that fullUrl. It is checked (R4B structure, the JP-CLINS rule table
and the JP Core rules of every entry) before it is returned: an invalid document raises, it never goes out.

Records of another patient than the document's are refused (right patient or no one), as are records the
JP Core converter refuses; `build` returns them beside the bundle with the reason.
"""

from __future__ import annotations

import copy
import hashlib
import html
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from renkei.connectors.fhir._ids import RENKEI_NS
from renkei.connectors.fhir.clins import _systems as C
from renkei.connectors.fhir.clins._parties import Author, organization, practitioner
from renkei.connectors.fhir.clins.items import Built, ClinsItems
from renkei.connectors.fhir.clins.rules import check_bundle
from renkei.connectors.fhir.jpcore import JPCoreConverter
from renkei.errors import InputError
from renkei.mappings import load_mapping
from renkei.records import Record

DocumentKind = Literal["ereferral", "discharge_summary", "checkup_report"]
BUNDLE_PROFILE = {
    "ereferral": C.BUNDLE_EREFERRAL,
    "discharge_summary": C.BUNDLE_EDISCHARGE,
    "checkup_report": C.BUNDLE_ECHECKUP,
}
SPEC = {
    "ereferral": "clins_ereferral_composition",
    "discharge_summary": "clins_discharge_summary_composition",
    "checkup_report": "clins_checkup_report_composition",
}
ITEM_ORDER = (
    "encounter",
    "condition",
    "allergy",
    "contraindication",
    "infection",
    "lab",
    "physical",
    "prescription",
    "document",
)
TOKYO = ZoneInfo("Asia/Tokyo")


@dataclass
class DocumentRequest:
    kind: DocumentKind
    patient_id: str
    issued_at: datetime
    referral_to_organization: str = ""  # 紹介先医療機関 (診療情報提供書)
    referral_to_doctor: str = ""  # 紹介先医師, optional
    purpose: str = ""  # 紹介目的 (診療情報提供書, required)
    present_illness: str = ""  # 現病歴 text, optional
    chief_complaint: str = ""  # 主訴 (退院時サマリー), optional
    instruction: str = ""  # 退院時方針 (退院時サマリー), optional
    category: str = "OUTPATIENT"  # 文書サブ区分 of a 診療情報提供書: OUTPATIENT or DISCHARGE
    insured_id: str = ""  # 被保険者個人識別子 "保険者番号:記号:番号:枝番" (健診結果報告書, 6情報)
    report_category: str = ""  # 報告区分 (健診結果報告書)
    program_service: str = ""  # 健診プログラムサービスコード (健診結果報告書)
    version: str = "1"


def xhtml(text: str) -> str:
    body = "<br/>".join(html.escape(line) for line in text.strip().splitlines())
    return f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'


def timestamp(at: datetime) -> str:
    """ISO 8601 with milliseconds and zone, as the CLINS bundles ask (e.g. 2021-02-01T13:28:17.239+09:00)."""
    return (at if at.tzinfo else at.replace(tzinfo=TOKYO)).isoformat(timespec="milliseconds")


def document_number(kind: str, patient_id: str, records: list[Record]) -> str:
    """Stable for the same records: a re-built document has the same identifier (idempotent delivery)."""
    keys = sorted(r.record_key or repr(r.to_dict()) for r in records)
    digest = hashlib.sha256("|".join([kind, patient_id, *keys]).encode("utf-8")).hexdigest()
    return digest[:20].upper()


def urn(resource: dict[str, Any]) -> str:
    return f"urn:uuid:{resource['id']}"


def rewrite_references(node: Any, local: dict[str, str]) -> Any:
    """ "Type/id" references to resources in the bundle become their urn:uuid fullUrl."""
    if isinstance(node, dict):
        out = {k: rewrite_references(v, local) for k, v in node.items()}
        if isinstance(out.get("reference"), str) and out["reference"] in local:
            out["reference"] = local[out["reference"]]
        return out
    if isinstance(node, list):
        return [rewrite_references(v, local) for v in node]
    return node


def with_insured_id(patient: dict[str, Any], insured_id: str, facility_code: str) -> dict[str, Any]:
    """The Patient as JP_Patient_eCS asks: its 被保険者個人識別子 (valid-system-insurance-patientIdentifier) when
    known, and the JP_eCS_InstitutionNumber its facility patient-id system is checked against
    (valid-system-local-patientID)."""
    out = copy.deepcopy(patient)
    out["extension"] = [x for x in out.get("extension", []) if x.get("url") != C.INSTITUTION_NUMBER]
    out["extension"].append({"url": C.INSTITUTION_NUMBER, "valueIdentifier": {"value": facility_code}})
    if insured_id:
        out["identifier"] = [i for i in out.get("identifier", []) if i.get("system") != C.INSURED_ID]
        out["identifier"].append({"system": C.INSURED_ID, "value": insured_id})
    return out


def split_patient(records: list[Record], patient_id: str) -> tuple[list[Record], list[tuple[int, str, str]]]:
    mine, refused = [], []
    for i, r in enumerate(records):
        if r.patient_id == patient_id:
            mine.append(r)
        else:
            refused.append((i, r.kind.value, "fhir-clins: record of another patient than the document's"))
    return mine, refused


class ClinsDocuments:
    def __init__(self, converter: JPCoreConverter, author: Author, items: ClinsItems | None = None) -> None:
        self.converter = converter
        self.author = author
        self.items = items or ClinsItems(converter)

    def build(self, req: DocumentRequest, records: list[Record]) -> tuple[dict[str, Any], list[tuple[int, str, str]]]:
        """(the checked document Bundle, refused records as (index, kind, reason)); raises InputError when the
        records cannot make this document (no Patient, a required section without content, …)."""
        mine, refused = split_patient(records, req.patient_id)
        index = [i for i, r in enumerate(records) if r.patient_id == req.patient_id]
        built = self.items.build(mine)
        refused += [(index[i], kind, why) for i, kind, why in built.refused]
        patients = built.of("patient")
        if len(patients) != 1:
            raise InputError(
                f"fhir-clins: {req.kind} needs the patient's Patient record (ADT-00), found {len(patients)}"
            )
        patient = with_insured_id(patients[0], req.insured_id, self.converter.facility_code)
        conv = self.converter
        own_org = organization(conv, self.author.organization_name, own=True)
        own_doc = practitioner(conv, self.author.practitioner_name, self.author.practitioner_id, own=True)
        parties = [own_doc, own_org]
        facts: dict[str, Any] = {
            "id": "",
            "date": timestamp(req.issued_at),
            "issued": (req.issued_at if req.issued_at.tzinfo else req.issued_at.replace(tzinfo=TOKYO))
            .date()
            .isoformat(),
            "version": req.version,
            "patient": urn(patient),
            "author_practitioner": urn(own_doc),
            "author_organization": urn(own_org),
            "custodian": urn(own_org),
        }
        number = document_number(req.kind, req.patient_id, mine)
        facts["identifier"] = f"{conv.facility_code}^{req.issued_at.year:04d}^{number}"
        entries = self._entries(req, built, facts, parties)
        facts["id"] = str(uuid.uuid5(RENKEI_NS, "clins-composition|" + facts["identifier"]))
        facts["entries"] = [{"ref": urn(r), "item": kind} for kind, r in entries]
        if req.kind == "discharge_summary":
            # 入院時診断: the conditions already present on the admission day (PRB-16 onset on or before it);
            # SS-MIX2 marks no diagnosis as the admission's, so the onset date is what tells.
            facts["entries"] += [
                {"ref": urn(r), "item": "admission_condition"}
                for kind, r in entries
                if kind == "condition" and str(r.get("onsetDateTime", "9999"))[:10] <= facts["admitted"]
            ]
        composition = load_mapping(SPEC[req.kind]).apply(facts)
        resources = [composition, patient, *parties, *(r for _, r in entries)]
        bundle = self._bundle(req, resources, number)
        check_bundle(bundle)
        return bundle, refused

    def _entries(
        self, req: DocumentRequest, built: Built, facts: dict[str, Any], parties: list[dict[str, Any]]
    ) -> list[tuple[str, dict[str, Any]]]:
        conv = self.converter
        chosen: list[tuple[str, dict[str, Any]]] = []
        if req.kind == "ereferral":
            if not req.referral_to_organization:
                raise InputError(
                    "fhir-clins: a 診療情報提供書 needs the referral target's organization name (紹介先医療機関)"
                )
            to_org = organization(conv, req.referral_to_organization, own=False)
            parties.append(to_org)
            facts["referral_to"] = [urn(to_org)]
            if req.referral_to_doctor:
                to_doc = practitioner(conv, req.referral_to_doctor, own=False)
                parties.append(to_doc)
                facts["referral_to"].append(urn(to_doc))
            facts["referral_from"] = [facts["author_organization"], facts["author_practitioner"]]
            facts["category"] = req.category
            if req.purpose:
                facts["purpose_xhtml"] = xhtml(req.purpose)
            kinds = ("condition", "allergy", "contraindication", "infection", "lab", "physical", "prescription")
        elif req.kind == "discharge_summary":
            stays = [
                e for e in built.of("encounter") if e.get("status") == "finished" and (e.get("period") or {}).get("end")
            ]
            if not stays:
                raise InputError(
                    "fhir-clins: a 退院時サマリー needs a finished stay (admission and discharge, ADT-22/ADT-52)"
                )
            stay = max(stays, key=lambda e: e["period"]["end"])
            facts["encounter"] = urn(stay)
            facts["admitted"] = stay["period"].get("start", "")[:10]
            facts["discharged"] = stay["period"]["end"][:10]
            chosen.append(("encounter", stay))
            kinds = ITEM_ORDER[1:]  # everything but the encounter, which is chosen above
        else:
            if not req.insured_id:
                raise InputError(
                    "fhir-clins: a 健診結果報告書 needs the 被保険者個人識別子 (insured id) for its identifier"
                )
            facts["report_category"] = req.report_category
            facts["program_service"] = req.program_service
            kinds = ("infection", "lab", "physical")
        for text_key, text in (
            ("present_illness_xhtml", req.present_illness),
            ("chief_complaint_xhtml", req.chief_complaint),
            ("instruction_xhtml", req.instruction),
        ):
            if text:
                facts[text_key] = xhtml(text)
        for kind in ITEM_ORDER:
            if kind in kinds:
                chosen += [(kind, r) for r in built.of(kind)]
        return chosen

    def _bundle(self, req: DocumentRequest, resources: list[dict[str, Any]], number: str) -> dict[str, Any]:
        local = {f"{r['resourceType']}/{r['id']}": urn(r) for r in resources}
        if req.kind == "checkup_report":
            value = f"{self.converter.facility_code}^{req.insured_id}^{number}"
        else:
            value = f"{self.converter.facility_code}^{req.issued_at.year:04d}^{number}"
        stamp = timestamp(req.issued_at)
        return {
            "resourceType": "Bundle",
            "id": str(uuid.uuid5(RENKEI_NS, "clins-bundle|" + value)),
            "meta": {"lastUpdated": stamp, "profile": [f"{BUNDLE_PROFILE[req.kind]}|{C.BUNDLE_VERSION}"]},
            "language": "ja",
            "identifier": {"system": C.BUNDLE_IDENTIFIER, "value": value},
            "type": "document",
            "timestamp": stamp,
            "entry": [{"fullUrl": urn(r), "resource": rewrite_references(r, local)} for r in resources],
        }

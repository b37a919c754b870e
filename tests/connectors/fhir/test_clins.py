"""JP-CLINS documents and 6情報 bundles from SS-MIX2 input, checked against the JP-CLINS rule table
(mappings/specs/profiles/clins_rules.yaml) on top of the JP Core one, entry by entry."""

from __future__ import annotations

import copy
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from support.clins_storage import CONTRAINDICATED_DRUG, FACILITY, INFECTION_CODE, INSURED_ID, storage_records

from renkei.connectors.fhir import JPCoreConverter
from renkei.connectors.fhir.clins import (
    Author,
    ClinsDocuments,
    DocumentRequest,
    bundle_problems,
    check_bundle,
    six_item_bundles,
)
from renkei.connectors.fhir.clins.rules import table, values
from renkei.connectors.fhir.validate import FhirValidationError
from renkei.errors import InputError
from renkei.records import Condition

AT = datetime(2024, 7, 1, 9, 30, tzinfo=ZoneInfo("Asia/Tokyo"))


def _docs(version: str = "1.1.2") -> ClinsDocuments:
    return ClinsDocuments(JPCoreConverter(FACILITY, "ssmix2", version), Author("静岡テスト病院", "医師 一郎", "D0001"))


def _referral(records=None, **kw) -> tuple[dict, list]:
    records = storage_records() if records is None else records
    req = DocumentRequest(
        kind="ereferral",
        patient_id=records[0].patient_id,
        issued_at=AT,
        referral_to_organization="紹介先クリニック",
        referral_to_doctor="紹介 先生",
        purpose="心不全の精査加療をお願いします。<急ぎ>",
        **kw,
    )
    return _docs().build(req, records)


def _section(comp: dict, *codes: str) -> dict:
    level = [comp]
    for code in codes:
        level = [s for p in level for s in p.get("section", []) if s["code"]["coding"][0]["code"] == code]
    assert len(level) == 1, codes
    return level[0]


def _by_url(bundle: dict) -> dict[str, dict]:
    return {e["fullUrl"]: e["resource"] for e in bundle["entry"]}


@pytest.mark.parametrize("version", ["1.1.2", "1.2.0"])
def test_referral_with_the_six_items_keeps_the_jp_clins_and_jp_core_rules(version: str) -> None:
    records = storage_records()
    req = DocumentRequest(
        kind="ereferral",
        patient_id=records[0].patient_id,
        issued_at=AT,
        referral_to_organization="紹介先クリニック",
        purpose="精査加療のお願い",
    )
    bundle, _ = _docs(version).build(req, records)
    assert bundle_problems(bundle) == []
    check_bundle(bundle)  # R4B structure + JP-CLINS rules + JP Core rules of every entry: raises if not
    assert bundle["type"] == "document" and bundle["meta"]["profile"] == [
        "http://jpfhir.jp/fhir/clins/StructureDefinition/JP_Bundle_eReferral|1"
    ]
    assert bundle["timestamp"] == "2024-07-01T09:30:00.000+09:00"
    comp = bundle["entry"][0]["resource"]
    assert comp["resourceType"] == "Composition" and comp["title"] == "診療情報提供書"
    assert comp["identifier"]["value"].startswith(f"{FACILITY}^2024^")
    urls = _by_url(bundle)
    assert all(u.startswith("urn:uuid:") for u in urls)
    assert urls[comp["subject"]["reference"]]["resourceType"] == "Patient"
    jp_core = f"|{version}"
    assert all(
        any(p.endswith(jp_core) for p in r["meta"]["profile"])
        for r in urls.values()
        if r["resourceType"] != "Composition"
    )

    def items(*codes: str) -> list[dict]:
        return [urls[e["reference"]] for e in _section(comp, "300", *codes).get("entry", [])]

    conditions = items("340")  # 傷病名
    assert {c["code"]["coding"][0]["code"] for c in conditions} == {
        r.code.code for r in records if isinstance(r, Condition)
    }
    allergies = items("510")  # アレルギー + 薬剤禁忌
    contra = [a for a in allergies if a.get("criticality") == "high"]
    assert [a["code"]["coding"][0]["code"] for a in contra] == [CONTRAINDICATED_DRUG]
    assert contra[0]["category"] == ["medication"] and contra[0]["code"]["text"] == "ワルファリンカリウム錠"
    assert "JP_DrugContraIndication_eClinicalSummary" in contra[0]["meta"]["profile"][1]
    assert any(a.get("criticality") != "high" and a["code"]["coding"][0]["code"] == "106824501" for a in allergies)
    infections = items("520")  # 感染症
    assert [o["code"]["coding"][0]["code"] for o in infections] == [INFECTION_CODE]
    labs = items("620")  # 検査
    assert labs and all(o["code"]["coding"][0]["code"] != INFECTION_CODE for o in labs)
    assert {o["valueQuantity"]["value"] for o in labs if "valueQuantity" in o}  # values travel as numbers
    prescriptions = items("430")  # 処方
    assert prescriptions and all(m["resourceType"] == "MedicationRequest" for m in prescriptions)
    for item in conditions + allergies + infections + labs + prescriptions:
        assert item["subject" if "subject" in item else "patient"]["reference"] == comp["subject"]["reference"]
        ext = [x for x in item["extension"] if x["url"].endswith("JP_eCS_InstitutionNumber")]
        assert ext == [{"url": ext[0]["url"], "valueIdentifier": {"value": FACILITY}}]
    purpose = _section(comp, "300", "950")["text"]["div"]
    assert purpose == '<div xmlns="http://www.w3.org/1999/xhtml">精査加療のお願い</div>'


def test_referral_text_is_escaped_and_the_target_is_the_second_organization() -> None:
    bundle, _ = _referral()
    comp = bundle["entry"][0]["resource"]
    assert "心不全の精査加療をお願いします。&lt;急ぎ&gt;" in _section(comp, "300", "950")["text"]["div"]
    to = [_by_url(bundle)[e["reference"]] for e in _section(comp, "910")["entry"]]
    assert [r["name"] if r["resourceType"] == "Organization" else r["name"][0]["text"] for r in to] == [
        "紹介先クリニック",
        "紹介 先生",
    ]
    orgs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Organization"]
    assert sorted(o["name"] for o in orgs) == sorted(["静岡テスト病院", "紹介先クリニック"])


def test_the_same_records_make_the_same_document() -> None:
    first, _ = _referral()
    again, _ = _referral(list(reversed(storage_records())))
    assert first["identifier"] == again["identifier"]
    assert {e["fullUrl"] for e in first["entry"]} == {e["fullUrl"] for e in again["entry"]}


def test_a_record_of_another_patient_is_refused_never_filed() -> None:
    records = storage_records()
    stranger = copy.deepcopy(next(r for r in records if isinstance(r, Condition)))
    stranger.patient_id = "999999999"
    stranger.record_key = "other/PPR-01/x"
    bundle, refused = _referral([*records, stranger])
    assert (len(records), "condition", "fhir-clins: record of another patient than the document's") in refused
    assert all("999999999" not in str(e["resource"]) for e in bundle["entry"])


def test_a_referral_without_any_condition_or_purpose_is_refused_with_the_reason() -> None:
    no_conditions = [r for r in storage_records() if not isinstance(r, Condition)]
    with pytest.raises(InputError, match="section"):
        _referral(no_conditions)
    records = storage_records()
    req = DocumentRequest(
        kind="ereferral", patient_id=records[0].patient_id, issued_at=AT, referral_to_organization="X"
    )
    with pytest.raises(InputError, match="purpose_xhtml"):
        _docs().build(req, records)


@pytest.mark.parametrize(
    ("breakage", "why"),
    [
        (lambda b: b.update(type="collection"), "type must be 'document'"),
        (lambda b: b["entry"].insert(0, b["entry"].pop(1)), "the first entry must be a Composition"),
        (lambda b: b["entry"][0]["resource"]["type"]["coding"][0].update(code="18842-5"), "type.coding.code must be"),
        (lambda b: b["entry"][0]["resource"]["section"].pop(0), "section 910"),
        (lambda b: b["entry"][0]["resource"].update(status="preliminary"), "status must be 'final'"),
        (lambda b: b["entry"][0]["resource"]["subject"].update(reference="urn:uuid:nobody"), "subject.reference"),
        (lambda b: b["entry"][0]["resource"].pop("extension"), "composition-clinicaldocument-versionNumber"),
        (lambda b: b["entry"][3].update(fullUrl="Organization/1"), "fullUrl must start with urn:uuid:"),
        (lambda b: b["entry"].append(copy.deepcopy(b["entry"][-1])), "its own fullUrl"),
    ],
)
def test_the_rule_table_catches_a_broken_document(breakage, why: str) -> None:
    bundle, _ = _referral()
    broken = copy.deepcopy(bundle)
    breakage(broken)
    problems = bundle_problems(broken)
    assert any(why in reason for _, reason in problems), problems
    assert all("(JP_" in reason for _, reason in problems)  # each problem names the profile rule it breaks
    with pytest.raises(FhirValidationError):
        check_bundle(broken)


def test_a_jp_core_rule_breaks_the_document_too() -> None:
    bundle, _ = _referral()
    broken = copy.deepcopy(bundle)
    obs = next(e["resource"] for e in broken["entry"] if e["resource"]["resourceType"] == "Observation")
    obs["category"] = []
    with pytest.raises(FhirValidationError, match="category"):
        check_bundle(broken)


def test_discharge_summary_holds_the_stay_and_its_course() -> None:
    records = storage_records()
    req = DocumentRequest(kind="discharge_summary", patient_id=records[0].patient_id, issued_at=AT)
    bundle, _ = _docs().build(req, records)
    assert bundle_problems(bundle) == []
    comp = bundle["entry"][0]["resource"]
    assert comp["type"]["coding"][0]["code"] == "18842-5" and comp["category"][0]["coding"][0]["code"] == "DISCHARGE"
    assert comp["event"][0]["period"] == {"start": "2024-06-02", "end": "2024-06-21"}
    urls = _by_url(bundle)
    stay = urls[_section(comp, "300", "324")["entry"][0]["reference"]]
    assert stay["resourceType"] == "Encounter" and stay["status"] == "finished"
    course = [urls[e["reference"]]["resourceType"] for e in _section(comp, "300", "333")["entry"]]
    assert course == ["DocumentReference", "DocumentReference"]
    assert _section(comp, "300", "360")["emptyReason"]["coding"][0]["code"] == "unavailable"
    at_discharge = [urls[e["reference"]] for e in _section(comp, "300", "344")["entry"]]
    at_admission = [urls[e["reference"]] for e in _section(comp, "300", "342").get("entry", [])]
    assert len(at_discharge) == len([r for r in records if isinstance(r, Condition)])
    assert all(c["onsetDateTime"][:10] <= "2024-06-02" for c in at_admission)
    assert {c["id"] for c in at_admission} == {c["id"] for c in at_discharge if c["onsetDateTime"][:10] <= "2024-06-02"}


def test_checkup_report_needs_the_insured_id_and_carries_the_results() -> None:
    records = storage_records()
    base = dict(kind="checkup_report", patient_id=records[0].patient_id, issued_at=AT, report_category="41")
    with pytest.raises(InputError, match="insured"):
        _docs().build(DocumentRequest(**base, program_service="010"), records)
    bundle, _ = _docs().build(DocumentRequest(**base, program_service="010", insured_id=INSURED_ID), records)
    assert bundle_problems(bundle) == []
    assert bundle["identifier"]["value"].startswith(f"{FACILITY}^{INSURED_ID}^")
    comp = bundle["entry"][0]["resource"]
    assert comp["category"][0]["coding"][0] == {
        "system": "urn:oid:1.2.392.200119.6.1001",
        "code": "41",
        "display": "事業者健診",
    }
    results = [_by_url(bundle)[e["reference"]] for e in _section(comp, "01910")["entry"]]
    assert results and {r["resourceType"] for r in results} == {"Observation"}
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert {"system": "http://jpfhir.jp/fhir/eCS/Idsysmem/JP_Insurance_memberID", "value": INSURED_ID} in patient[
        "identifier"
    ]


def test_six_item_bundles_one_per_type_patient_first_stable_identifiers() -> None:
    records = storage_records()
    bundles, _ = six_item_bundles(_docs().items, records[0].patient_id, records, insured_id=INSURED_ID, at=AT)
    tags = [b["meta"]["tag"][0]["code"] for b in bundles]
    assert tags == ["Condition", "AllergyIntolerance", "Observation", "MedicationRequest"]
    for b in bundles:
        assert bundle_problems(b) == [] and b["type"] == "collection"
        assert b["entry"][0]["resource"]["resourceType"] == "Patient"
        assert {e["resource"]["resourceType"] for e in b["entry"][1:]} == {b["meta"]["tag"][0]["code"]}
    obs = {e["resource"]["code"]["coding"][0]["code"] for e in bundles[2]["entry"][1:]}
    assert INFECTION_CODE in obs
    again, _ = six_item_bundles(_docs().items, records[0].patient_id, records, insured_id=INSURED_ID, at=datetime.now())
    assert [b["identifier"] for b in again] == [b["identifier"] for b in bundles]
    with pytest.raises(InputError, match="insured_id"):
        six_item_bundles(_docs().items, records[0].patient_id, records, insured_id="12345", at=AT)
    patient = bundles[0]["entry"][0]["resource"]
    patient["identifier"] = [i for i in patient["identifier"] if not i["system"].endswith("JP_Insurance_memberID")]
    patient["extension"][0]["valueIdentifier"]["value"] = "2712345678"  # another facility than the patient id's
    problems = [why for _, why in bundle_problems(bundles[0])]
    assert any("JP_Insurance_memberID" in p for p in problems) and any("InstitutionNumber" in p for p in problems)


def test_every_rule_cites_its_source_and_the_table_is_not_the_fsh() -> None:
    t = table()
    assert len(t["rules"]) > 100
    for rule in t["rules"]:
        assert rule["profile"] in t["profiles"] and rule["cite"]
    assert values({"a": [{"b": 1}, {"b": 2}]}, "a.b") == [1, 2]

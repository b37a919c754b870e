"""ADT-00 NK1 -> Patient.contact and IN1 -> Coverage (JP_Coverage), read from the NHO sample's real ADT-00,
checked against the rule table for both JP Core versions, and stored on the test FHIR server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from renkei.connectors.fhir import FhirDestination, JPCoreConverter
from renkei.connectors.fhir._rules import profile_problems
from renkei.connectors.fhir.validate import check_resource
from renkei.connectors.ssmix2 import parse_file
from renkei.records import Patient

FACILITY = "1311234567"
NHO = Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "ssmix2-nho" / "storage"


def nho_patient() -> Patient:
    path = next(p for p in NHO.rglob("*") if p.is_file() and "/ADT-00/" in str(p))
    records = parse_file(str(path.relative_to(NHO)), path.read_bytes()).records
    return next(r for r in records if isinstance(r, Patient))


def test_nk1_and_in1_are_read_from_the_nho_adt00() -> None:
    p = nho_patient()
    assert p.contacts == [
        {
            "relationship": "SEL", "relationship_display": "本人", "name": "患者 太郎", "name_kana": "カンジャ タロウ",
            "phone": "054-000-0000", "work_phone": "03-3599-9993", "postcode": "422-8033",
            "address": "静岡県静岡市登呂１−３−５", "organization": "鹿ノ門商事株式会社",
        }
    ]  # fmt: skip
    assert p.coverages == [
        {"plan": "67", "plan_display": "国民健康保険退職者", "plan_system": "JHSD0001", "insurer": "67999991",
         "start": "20091201", "relationship": "SEL"}
    ]  # fmt: skip
    assert Patient.from_dict(p.to_dict()) == p
    assert "contacts" not in Patient(patient_id="1").to_dict()  # records without NK1/IN1 keep their old dict


@pytest.mark.parametrize(("version", "insurer_system"), [
    ("1.1.2", "urn:oid:1.2.392.100495.20.3.61"),
    ("1.2.0", "http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsurerNumber"),
])  # fmt: skip
def test_contact_and_coverage_keep_the_rule_table(version: str, insurer_system: str) -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2", jp_core_version=version)
    resources, refused = conv.convert_partitioned([nho_patient()])
    assert refused == []
    patient, coverage = resources
    for res in resources:
        check_resource(res)
        assert profile_problems(res) == []
    [contact] = patient["contact"]
    assert contact["relationship"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0063", "code": "SEL", "display": "本人",
    }  # fmt: skip
    assert contact["name"]["text"] == "患者 太郎" and contact["organization"] == {"display": "鹿ノ門商事株式会社"}
    assert [t["use"] for t in contact["telecom"]] == ["home", "work"]
    assert coverage["meta"]["profile"] == [f"http://jpfhir.jp/fhir/core/StructureDefinition/JP_Coverage|{version}"]
    insurer = {"system": insurer_system, "value": "67999991"}
    assert coverage["payor"] == [{"type": "Organization", "identifier": insurer}]
    assert coverage["beneficiary"]["reference"] == f"Patient/{patient['id']}"
    assert coverage["period"] == {"start": "2009-12-01"}
    assert coverage["relationship"]["coding"][0]["code"] == "self"
    coverage.pop("payor")
    assert [p[0] for p in profile_problems(coverage)] == ["Coverage.payor"]


@pytest.mark.integration
def test_on_medplum_the_coverage_points_at_the_stored_patient(medplum, monkeypatch) -> None:
    monkeypatch.setenv("RENKEI_TEST_MEDPLUM_TOKEN", medplum.token)
    dest = FhirDestination("fhir", FhirDestination.Settings(
        base_url=medplum.base_url, auth="env:RENKEI_TEST_MEDPLUM_TOKEN", facility_code=FACILITY, source_system="ssmix2",
    ))  # fmt: skip
    p = nho_patient()
    p.patient_id = str(uuid.uuid4().int)[:10]  # a fresh patient on the session's server
    receipt = dest.deliver({"records": [p.to_dict()]}, "adt00")
    patient_ref, coverage_ref = receipt.split()
    assert coverage_ref.startswith("Coverage/")
    stored = dest.client.read("Coverage", coverage_ref.split("/")[1])
    assert stored["beneficiary"]["reference"] == patient_ref
    assert dest.client.read("Patient", patient_ref.split("/")[1])["contact"][0]["organization"]["display"]
    dest.close()

"""JP-CLINS bundles against a real FHIR R4 server (Medplum fhir-router, validating; tests/support/medplum).

The 診療情報提供書 with the six items for one patient (from a generated SS-MIX2 storage with every data type,
read through the real parser) is checked against the JP-CLINS rule table and accepted by the server;
delivering it twice keeps one Bundle. The 6情報 bundles go the same way."""

from __future__ import annotations

import pytest
import requests
from support.clins_storage import FACILITY, INSURED_ID, storage_records

from renkei.connectors.fhir import JPCoreConverter
from renkei.connectors.fhir.clins import ClinsItems, FhirClinsDestination, bundle_problems

pytestmark = pytest.mark.integration
TOKEN_ENV = "RENKEI_TEST_MEDPLUM_TOKEN"


@pytest.fixture
def dest(medplum, monkeypatch: pytest.MonkeyPatch) -> FhirClinsDestination:
    monkeypatch.setenv(TOKEN_ENV, medplum.token)
    settings = FhirClinsDestination.Settings(
        base_url=medplum.base_url,
        auth=f"env:{TOKEN_ENV}",
        facility_code=FACILITY,
        source_system="ssmix2",
        organization_name="静岡テスト病院",
        author_name="医師 一郎",
        author_id="D0001",
    )
    return FhirClinsDestination("clins", settings)


def _payload(document: str) -> dict:
    records = storage_records()
    refused = {i for i, _, _ in ClinsItems(JPCoreConverter(FACILITY, "ssmix2")).build(records).refused}
    records = [r for i, r in enumerate(records) if i not in refused]  # whole delivery (refusals: unit tests)
    return {
        "document": document,
        "patient_id": records[0].patient_id,
        "issued_at": "2024-07-01T09:30:00+09:00",
        "records": [r.to_dict() for r in records],
        "referral_to_organization": "紹介先クリニック",
        "purpose": "精査加療のお願い",
        "insured_id": INSURED_ID,
    }


def _stored(medplum, receipt: str) -> dict:
    resp = requests.get(f"{medplum.base_url}/{receipt}", headers=medplum.headers, timeout=10)
    resp.raise_for_status()
    return resp.json()


def test_referral_with_the_six_items_is_accepted_once(medplum, dest: FhirClinsDestination) -> None:
    payload = _payload("ereferral")
    (bundle,), refused = dest.bundles_for(payload)
    assert refused == [] and bundle_problems(bundle) == []
    sections = {s["code"]["coding"][0]["code"] for s in bundle["entry"][0]["resource"]["section"][2]["section"]}
    assert {"340", "510", "520", "620", "430"} <= sections  # 傷病名 アレルギー/薬剤禁忌 感染症 検査 処方
    receipt = dest.deliver(payload, "k1")
    assert receipt.startswith("Bundle/")
    assert dest.deliver(payload, "k1") == receipt
    ident = bundle["identifier"]
    assert medplum.count("Bundle", identifier=f"{ident['system']}|{ident['value']}") == 1
    stored = _stored(medplum, receipt)
    assert stored["type"] == "document" and stored["entry"][0]["resource"]["resourceType"] == "Composition"
    assert len(stored["entry"]) == len(bundle["entry"])
    assert bundle_problems(stored) == []  # what the server keeps still keeps the rules


def test_six_item_bundles_are_accepted(medplum, dest: FhirClinsDestination) -> None:
    receipts = dest.deliver(_payload("six_items"), "k2").split()
    assert len(receipts) == 4
    tags = [_stored(medplum, r)["meta"]["tag"][0]["code"] for r in receipts]
    assert tags == ["Condition", "AllergyIntolerance", "Observation", "MedicationRequest"]

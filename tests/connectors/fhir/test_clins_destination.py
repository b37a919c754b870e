"""The `fhir-clins` destination in folder mode: one file per bundle, written whole, the same file again on a
second delivery, refusals quarantined with their reason, every delivery audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.clins_storage import FACILITY, INSURED_ID, storage_records

from renkei.connectors.base import ConnectorContext
from renkei.connectors.fhir import JPCoreConverter
from renkei.connectors.fhir.clins import ClinsItems, FhirClinsDestination, bundle_problems
from renkei.connectors.fhir.destination import FhirPartialDelivery
from renkei.errors import PermanentDeliveryError, RetryableDeliveryError


def _good_records() -> list:
    # Some generated records fail the JP Core checks today (15-character JLAC10 allergens, a 9-character
    # observation code: issue 16): leave those out so a delivery is whole; test_partial_delivery covers refusals.
    records = storage_records()
    refused = {i for i, _, _ in ClinsItems(JPCoreConverter(FACILITY, "ssmix2")).build(records).refused}
    return [r for i, r in enumerate(records) if i not in refused]


def _dest(tmp_path: Path, audit: list | None = None) -> FhirClinsDestination:
    settings = FhirClinsDestination.Settings(
        mode="folder",
        folder=tmp_path / "upload",
        facility_code=FACILITY,
        source_system="ssmix2",
        organization_name="静岡テスト病院",
        author_name="医師 一郎",
        author_id="D0001",
    )
    ctx = ConnectorContext(data_dir=tmp_path, audit=lambda *a: audit.append(a) if audit is not None else None)
    return FhirClinsDestination("clins", settings, ctx)


def _payload(document: str = "ereferral", records=None) -> dict:
    records = _good_records() if records is None else records
    return {
        "document": document,
        "patient_id": records[0].patient_id,
        "issued_at": "2024-07-01T09:30:00+09:00",
        "records": [r.to_dict() for r in records],
        "referral_to_organization": "紹介先クリニック",
        "purpose": "精査加療のお願い",
        "insured_id": INSURED_ID,
    }


def test_referral_goes_to_one_whole_file_and_again_to_the_same_file(tmp_path: Path) -> None:
    audit: list = []
    dest = _dest(tmp_path, audit)
    receipt = dest.deliver(_payload(), "k1")
    files = sorted((tmp_path / "upload").iterdir())
    assert [f.name for f in files] == [receipt] and receipt.startswith("document-") and receipt.endswith(".json")
    bundle = json.loads(files[0].read_text("utf-8"))
    assert bundle["entry"][0]["resource"]["resourceType"] == "Composition" and bundle_problems(bundle) == []
    mtime = files[0].stat().st_mtime_ns
    assert dest.deliver(_payload(), "k1") == receipt
    assert sorted(f.name for f in (tmp_path / "upload").iterdir()) == [receipt]  # no duplicate, no .part left
    assert files[0].stat().st_mtime_ns == mtime  # same content: not rewritten
    pid = _good_records()[0].patient_id
    assert [(a[0], a[1]) for a in audit] == [("fhir-clins.deliver", pid)] * 2
    assert pid not in receipt and INSURED_ID not in receipt  # file names carry no patient data


def test_six_items_go_as_four_files(tmp_path: Path) -> None:
    receipt = _dest(tmp_path).deliver(_payload("six_items"), "k2")
    names = receipt.split()
    assert len(names) == 4 and all(n.startswith("collection-") for n in names)
    tags = [json.loads((tmp_path / "upload" / n).read_text("utf-8"))["meta"]["tag"][0]["code"] for n in names]
    assert tags == ["Condition", "AllergyIntolerance", "Observation", "MedicationRequest"]


def test_an_engine_payload_without_document_becomes_the_default(tmp_path: Path) -> None:
    payload = {k: v for k, v in _payload().items() if k != "document"}
    assert len(_dest(tmp_path).deliver(payload, "k8").split()) == 4  # six_items: four collection bundles


def test_partial_delivery_quarantines_the_refused_records_with_their_reasons(tmp_path: Path) -> None:
    records = storage_records()
    stranger = records[1].to_dict() | {"patient_id": "999999999", "record_key": "other/x"}
    payload = _payload(records=records)
    payload["records"].append(stranger)
    with pytest.raises(FhirPartialDelivery) as err:
        _dest(tmp_path).deliver(payload, "k3")
    assert (len(records), records[1].kind.value, "fhir-clins: record of another patient than the document's") in (
        err.value.refused
    )
    assert (tmp_path / "upload" / err.value.receipt).exists()  # the rest went
    assert "999999999" not in str(err.value)


def test_unusable_payloads_are_permanent_with_the_reason(tmp_path: Path) -> None:
    dest = _dest(tmp_path)
    with pytest.raises(PermanentDeliveryError, match="document must be"):
        dest.deliver(_payload("letter"), "k4")
    with pytest.raises(PermanentDeliveryError, match="紹介先医療機関"):
        dest.deliver(_payload() | {"referral_to_organization": ""}, "k5")
    with pytest.raises(PermanentDeliveryError, match="insured_id"):
        dest.deliver(_payload("six_items") | {"insured_id": ""}, "k6")


def test_an_unwritable_folder_is_retryable_and_leaves_no_half_file(tmp_path: Path) -> None:
    dest = _dest(tmp_path)
    (tmp_path / "upload").write_text("a file where the folder should be")  # mkdir fails with an OSError
    with pytest.raises(RetryableDeliveryError, match="upload folder"):
        dest.deliver(_payload(), "k7")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upload"]


def test_settings_need_a_target() -> None:
    with pytest.raises(ValueError, match="base_url"):
        FhirClinsDestination.Settings(facility_code=FACILITY, organization_name="x", author_name="y")
    with pytest.raises(ValueError, match="folder"):
        FhirClinsDestination.Settings(mode="folder", facility_code=FACILITY, organization_name="x", author_name="y")


def test_the_documented_config_validates(tmp_path: Path) -> None:
    from renkei.connectors.registry import connector_class, settings_model

    assert connector_class("fhir-clins") is FhirClinsDestination
    settings = settings_model("fhir-clins").model_validate(
        {
            "mode": "folder",
            "folder": str(tmp_path / "clins-upload"),
            "facility_code": "1311234567",
            "organization_name": "静岡テスト病院",
            "author_name": "医師 一郎",
            "author_id": "D0001",
            "jp_core_version": "1.1.2",
        }
    )
    assert settings.default_document == "six_items" and settings.contraindication_severities == ["SV"]
    with pytest.raises(ValueError, match="facility_code"):
        settings_model("fhir-clins").model_validate(
            {
                "mode": "folder",
                "folder": "x",
                "facility_code": "9911234567",
                "organization_name": "x",
                "author_name": "y",
            }
        )

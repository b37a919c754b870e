"""The real NHO sample storage (../shared/conformance/ssmix2-nho) as JP-CLINS 6情報 bundles: every bundle keeps
the JP-CLINS rule table and every entry the JP Core one. (Its one patient has no PPR-01 傷病名, so no
診療情報提供書 can be made of it; that document is shown from the generated storage in test_clins.py.)"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from support.shared import shared_path

from renkei.connectors.fhir import JPCoreConverter
from renkei.connectors.fhir.clins import ClinsItems, check_bundle, six_item_bundles
from renkei.connectors.ssmix2 import SSMIX2Error, parse_file

ROOT = shared_path("conformance", "ssmix2-nho", "storage")


def test_nho_storage_makes_valid_six_item_bundles() -> None:
    records = []
    for path in sorted(p for p in ROOT.rglob("*") if p.is_file()):
        try:
            records += parse_file(str(path.relative_to(ROOT)), path.read_bytes()).records
        except SSMIX2Error:
            continue  # the sample's deliberately broken files
    items = ClinsItems(JPCoreConverter("1311234567", "ssmix2"))
    at = datetime(2024, 7, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    bundles, refused = six_item_bundles(items, "9999013", records, insured_id="06139877:記号:番号:01", at=at)
    assert refused == []
    assert [b["meta"]["tag"][0]["code"] for b in bundles] == ["AllergyIntolerance", "Observation", "MedicationRequest"]
    for b in bundles:
        check_bundle(b)
    assert len(bundles[2]["entry"]) == 1 + 3  # the Patient and the three oral prescriptions (injections are not 処方)

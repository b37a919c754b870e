"""Every resource renkei makes of the NHO sample storage (../shared/conformance/ssmix2-nho) keeps the JP Core
rule table, for both JP Core versions: none refused, the real ADT-00 body measurements carry effective[x]."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from renkei.connectors.fhir import JPCoreConverter
from renkei.connectors.fhir._rules import profile_problems
from renkei.connectors.ssmix2 import SSMIX2Error, parse_file

ROOT = Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "ssmix2-nho" / "storage"


@pytest.mark.parametrize("version", ["1.1.2", "1.2.0"])
def test_every_resource_from_the_nho_storage_keeps_the_rule_table(version: str) -> None:
    conv = JPCoreConverter("1311234567", "ssmix2", jp_core_version=version)
    emitted: Counter[str] = Counter()
    for path in sorted(p for p in ROOT.rglob("*") if p.is_file()):
        try:
            parsed = parse_file(str(path.relative_to(ROOT)), path.read_bytes())
        except SSMIX2Error:
            continue  # the sample's deliberately broken files (tests/connectors/ssmix2/test_conformance_nho.py)
        resources, refused = conv.convert_partitioned([r for r in parsed.records if r.kind.value != "note"])
        assert refused == []
        for res in resources:
            assert profile_problems(res) == []
            if res["resourceType"] == "Specimen":  # base R4: JP Core 1.1.2/1.2.0 have no Specimen profile
                assert "meta" not in res
                emitted["Specimen"] += 1
                continue
            emitted[res["meta"]["profile"][0].rsplit("/", 1)[-1].removesuffix(f"|{version}")] += 1
            if res["meta"]["profile"][0].split("|")[0].endswith("BodyMeasurement"):
                assert res["effectiveDateTime"].startswith("20")
    assert emitted["JP_Observation_BodyMeasurement"] == 2
    assert emitted["JP_MedicationRequest"] == 3 and emitted["JP_MedicationRequest_Injection"] == 6
    assert emitted["JP_MedicationAdministration_Injection"] == 2 and emitted["JP_Encounter"] == 3

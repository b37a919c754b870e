"""The FHIR output reads the shipped code tables: per-code checks against the HL7 v2-to-FHIR ConceptMaps,
and the FHIR connector and the level-4 mapping spec giving the same answer for the same code."""

from __future__ import annotations

from datetime import datetime

import pytest

from renkei.connectors.fhir import JPCoreConverter
from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._units import quantity
from renkei.connectors.fhir.validate import check_resource
from renkei.errors import InputError
from renkei.mappings import MappingValueError, load_mapping
from renkei.records import Allergy, Coding, Observation

# HL7 v2-to-FHIR IG 1.0.0, ConceptMap table-hl70085-to-observation-status: group 1 (equivalent) and the
# codes the IG leaves unmapped for R4 (-> unknown).
OBX11 = {
    "A": "amended",
    "C": "corrected",
    "D": "entered-in-error",
    "F": "final",
    "P": "preliminary",
    "X": "cancelled",
    "W": "entered-in-error",
    "B": "unknown",
    "I": "unknown",
    "N": "unknown",
    "O": "unknown",
    "R": "unknown",
    "S": "unknown",
    "U": "unknown",
    "V": "unknown",
}
# ConceptMap table-hl70127-to-allergy-intolerance-category (+ -type).
TABLE_0127 = {
    "DA": (["medication"], "allergy"),
    "FA": (["food"], "allergy"),
    "EA": (["environment"], "allergy"),
    "AA": (["biologic"], "allergy"),
    "PA": (["environment"], "allergy"),
    "LA": (["environment"], "allergy"),
    "MA": (None, "allergy"),
    "MC": (None, None),
}


@pytest.fixture(scope="module")
def conv() -> JPCoreConverter:
    return JPCoreConverter("1311234567", source_system="ssmix2")


def lab(status: str) -> Observation:
    # OML-11 OBX|2|NM|3A010000002327101^総蛋白^JC10||7.2|g/dl^g/dl^99XYZ|6.70-8.3||||<status>|||201112191500
    return Observation(
        patient_id="9999013",
        record_key="9999013/OML-11/000000011000354/3A010000002327101",
        code=Coding("3A010000002327101", "総蛋白", "JC10"),
        value="7.2",
        value_type="NM",
        unit="g/dl",
        effective=datetime(2011, 12, 19, 15, 0),
        result_status=status,
    )


@pytest.mark.parametrize(("obx11", "status"), sorted(OBX11.items()))
def test_obx11_per_code_in_connector_and_spec(conv: JPCoreConverter, obx11: str, status: str) -> None:
    res = conv.convert(lab(obx11))
    check_resource(res)
    assert res["status"] == status
    assert load_mapping("observation_to_fhir_r4b").apply(lab(obx11))["status"] == status


def test_obx11_outside_table_0085_is_refused_by_both(conv: JPCoreConverter) -> None:
    with pytest.raises(InputError, match="HL7 table 0085") as err:
        conv.convert(lab("Z"))
    assert "9999013" not in str(err.value)
    with pytest.raises(MappingValueError):
        load_mapping("observation_to_fhir_r4b").apply(lab("Z"))


def test_empty_obx11_is_unknown_but_a_device_reading_is_final(conv: JPCoreConverter) -> None:
    assert conv.convert(lab(""))["status"] == "unknown"
    reading = Observation(
        patient_id="9999013",
        record_key="r1",
        code=Coding("150021", "MDC_PRESS_BLD_NONINV_SYS", "MDC"),
        value="128",
        value_type="NM",
        unit="mmHg",
        effective=datetime(2024, 4, 1, 9, 30),
    )
    assert conv.convert(reading)["status"] == "final"


@pytest.mark.parametrize(("al1_2", "expected"), sorted(TABLE_0127.items()))
def test_table_0127_per_code(conv: JPCoreConverter, al1_2: str, expected: tuple) -> None:
    category, kind = expected
    res = conv.convert(
        Allergy(
            patient_id="9999013",
            record_key=f"9999013/ADT-00/al1/{al1_2}",
            category=Coding(al1_2, "", "HL70127"),
            allergen=Coding("106824501", "アリナミン", "HOT9"),
        )
    )
    check_resource(res)
    assert res.get("category") == category
    assert res.get("type") == kind


def test_interpretation_and_systems_come_from_the_tables(conv: JPCoreConverter) -> None:
    obs = lab("F")
    obs.abnormal_flag = "HH"
    res = conv.convert(obs)
    assert res["interpretation"] == [
        {"coding": [{"system": S.OBS_INTERPRETATION, "code": "HH", "display": "Critical high"}]}
    ]
    spec = load_mapping("observation_to_fhir_r4b").apply(obs)
    assert spec["interpretation"][0]["coding"][0]["code"] == "HH"
    assert res["code"]["coding"][0]["system"] == spec["code"]["coding"][0]["system"] == S.JLAC10
    assert S.system_url("I10") == "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full"


def test_ucum_exact_then_case_insensitive() -> None:
    assert quantity(7.2, "g/dl")["code"] == "g/dL"
    assert quantity(7.2, "G/DL")["code"] == "g/dL"
    assert quantity(128, "mmHg")["code"] == "mm[Hg]"
    assert "code" not in quantity(3, "杯")

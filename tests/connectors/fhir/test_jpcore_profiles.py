"""JP Core profile choices, categories, device codes, pinned versions, the rule table, and per-record quarantine."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
import responses

from renkei.connectors.fhir import FhirDestination, FhirValidationError, JPCoreConverter
from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._rules import profile_problems, rules
from renkei.connectors.fhir.destination import FhirPartialDelivery
from renkei.connectors.fhir.validate import check_resource
from renkei.errors import ConfigError
from renkei.records import Allergy, Coding, Condition, Observation, Patient

FACILITY = "1311234567"
BASE = "https://fhir.example.jp/fhir/R4"
SIMPLE = "http://jpfhir.jp/fhir/core/CodeSystem/JP_SimpleObservationCategory_CS"


@pytest.fixture(scope="module")
def conv() -> JPCoreConverter:
    return JPCoreConverter(FACILITY, source_system="ssmix2")


def obs(code: str, system: str, value: str, unit: str, **kw) -> Observation:
    return Observation(
        patient_id="9999013",
        record_key=f"9999013/x/{code}",
        code=Coding(code, kw.pop("display", ""), system),
        value=value,
        value_type="NM",
        unit=unit,
        effective=datetime(2024, 4, 1, 9, 30),
        result_status=kw.pop("result_status", "F"),
        **kw,
    )


def cats(res: dict) -> list[tuple[str, str]]:
    return [(c["coding"][0]["system"].rsplit("/", 1)[-1], c["coding"][0]["code"]) for c in res["category"]]


@pytest.mark.parametrize(
    ("code", "unit", "profile", "categories"),
    [
        # SS-MIX2 vital-sign OBX (JLAC10 9A751/9A761/9P1-3) and height/weight (ADT-00 9N001/9N006)
        ("9A751000000000001", "mmHg", "JP_Observation_VitalSigns", [("vital-signs", "blood-pressure")]),
        ("9A761000000000001", "mmHg", "JP_Observation_VitalSigns", [("vital-signs", "blood-pressure")]),
        ("9P100000000000001", "Cel", "JP_Observation_VitalSigns", [("vital-signs", "temperature")]),
        ("9P200000000000001", "/min", "JP_Observation_VitalSigns", [("vital-signs", "respiratory-function")]),
        ("9P300000000000001", "/min", "JP_Observation_VitalSigns", [("vital-signs", "pulse-rate")]),
        ("9N001000000000001", "cm", "JP_Observation_BodyMeasurement", [("body-measurement", "height")]),
        ("9N006000000000001", "kg", "JP_Observation_BodyMeasurement", [("body-measurement", "weight")]),
        ("3A010000002327101", "g/dl", "JP_Observation_LabResult", [("laboratory", "")]),
    ],
)
def test_profile_and_categories_per_code(conv: JPCoreConverter, code: str, unit: str, profile: str, categories) -> None:
    res = conv.convert(obs(code, "JC10", "120", unit))
    check_resource(res)  # R4B structure, code shapes and the JP Core rule table
    assert res["meta"]["profile"] == [f"{S.JP}{profile}|1.1.2"]
    first, second = categories[0]
    assert cats(res)[0] == ("JP_SimpleObservationCategory_CS", first)
    if second:
        assert cats(res)[1][1] == second and len(cats(res)) == 2
    else:
        assert len(cats(res)) == 1


def test_local_code_is_common_with_a_category(conv: JPCoreConverter) -> None:
    res = conv.convert(obs("ABO", "99ZZZ", "A", "", display="血液型"))
    check_resource(res)
    assert res["meta"]["profile"] == [f"{S.JP}JP_Observation_Common|1.1.2"]
    assert cats(res) == [("JP_SimpleObservationCategory_CS", "laboratory")]


def test_device_reading_uses_32_bit_mdc_code_and_ucum(conv: JPCoreConverter) -> None:
    # devices/readings.py: NIBP systolic term 18949, unit MDC_DIM_MMHG
    reading = obs("18949", "MDC", "128", "MDC_DIM_MMHG", display="MDC_PRESS_BLD_NONINV_SYS", result_status="")
    res = conv.convert(reading)
    check_resource(res)
    assert res["code"]["coding"][0] == {"system": S.MDC, "code": "150021", "display": "MDC_PRESS_BLD_NONINV_SYS"}
    assert res["valueQuantity"] == {"value": 128, "unit": "mm[Hg]", "system": S.UCUM, "code": "mm[Hg]"}
    assert res["status"] == "final"
    assert cats(res) == [
        ("JP_SimpleObservationCategory_CS", "vital-signs"),
        ("JP_ObservationVitalSignsCategory_CS", "blood-pressure"),
    ]
    weight = conv.convert(obs("57664", "MDC", "61.2", "MDC_DIM_KILO_G", result_status=""))
    assert weight["code"]["coding"][0]["code"] == "188736"
    assert weight["meta"]["profile"] == [f"{S.JP}JP_Observation_BodyMeasurement|1.1.2"]
    assert weight["valueQuantity"]["code"] == "kg"


def test_version_is_pinned_from_the_config() -> None:
    res = JPCoreConverter(FACILITY, jp_core_version="1.2.0").convert(obs("3A010000002327101", "JC10", "7.2", "g/dl"))
    assert res["meta"]["profile"] == [f"{S.JP}JP_Observation_LabResult|1.2.0"]
    with pytest.raises(ConfigError, match="jp_core_version"):
        JPCoreConverter(FACILITY, jp_core_version="0.9")
    settings = FhirDestination.Settings(base_url=BASE, facility_code=FACILITY, jp_core_version="1.2.0")
    assert FhirDestination("d", settings).converter.jp_core_version == "1.2.0"


def test_rule_table_cites_its_sources_and_catches_broken_output(conv: JPCoreConverter) -> None:
    assert rules() and all(r["cite"] and r["versions"] for r in rules())
    vital = conv.convert(obs("9A751000000000001", "JC10", "120", "mmHg"))
    assert profile_problems(vital) == []
    vital["category"] = vital["category"][1:]  # drop the JP_SimpleObservationCategory_CS slice
    problems = profile_problems(vital)
    assert any("vital-signs" in why and "JP_Observation_VitalSigns.fsh" in why for _, why in problems)
    vital["effectiveInstant"] = "2024-04-01T09:30:00+09:00"
    with pytest.raises(FhirValidationError, match="only effectiveDateTime or effectivePeriod"):
        check_resource(vital)


def test_condition_modifiers_sit_on_code_and_clinical_status_is_set(conv: JPCoreConverter) -> None:
    cond = Condition(
        patient_id="9999013",
        record_key="9999013/PPR-01/1/20054174",
        code=Coding("20054174", "胃炎", "MDCDX2"),
        modifiers=[Coding("8002", "の疑い", "MDCDX2")],
        onset=date(2011, 8, 31),
    )
    res = conv.convert(cond)
    check_resource(res)
    assert res["clinicalStatus"]["coding"][0]["code"] == "active"
    misplaced = dict(res, extension=res["code"]["extension"])
    assert any("belongs on code" in why for _, why in profile_problems(misplaced))


def adt00_records() -> list[dict]:
    # ADT-00: PID, AL1 with a 15-character JLAC10 allergen code (2 characters short), OBX height.
    return [
        Patient(patient_id="9999013", record_key="9999013/ADT-00/p", name_kanji="患者 太郎", sex="M").to_dict(),
        Allergy(
            patient_id="9999013",
            record_key="9999013/ADT-00/al1/1",
            category=Coding("FA", "食物アレルギー", "HL70127"),
            allergen=Coding("1A0100000000001", "卵", "JC10"),
        ).to_dict(),
        obs("9N001000000000001", "JC10", "165.2", "cm").to_dict(),
    ]


@responses.activate
def test_bad_allergen_code_quarantines_only_the_allergy() -> None:
    sent: list[dict] = []

    def answer(request):
        bundle = json.loads(request.body)
        sent.append(bundle)
        entries = [
            {"response": {"status": "201 Created", "location": f"{e['resource']['resourceType']}/{i}/_history/1"}}
            for i, e in enumerate(bundle["entry"])
        ]
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})

    responses.add_callback(responses.POST, BASE, callback=answer, content_type="application/fhir+json")
    dest = FhirDestination("d", FhirDestination.Settings(base_url=BASE, facility_code=FACILITY))
    with pytest.raises(FhirPartialDelivery) as err:
        dest.deliver({"records": adt00_records()}, "adt00-1")
    types = [e["resource"]["resourceType"] for e in sent[0]["entry"]]
    assert types == ["Patient", "Observation"]  # the Patient and the height still went
    assert err.value.receipt == "Patient/0 Observation/1"
    assert [(i, kind) for i, kind, _ in err.value.refused] == [(1, "allergy")]
    text = str(err.value)
    assert "record 2 (allergy)" in text and "JLAC10 needs 17" in text and "got 15 characters" in text
    assert "1A0100000000001" not in text and "9999013" not in text
    dest.close()


@pytest.mark.parametrize(
    ("prb14", "status"), [("F", "resolved"), ("R", "remission"), ("N", "active"), ("D", "inactive")]
)
def test_prb14_outcome_sets_clinical_status_and_the_outcome_extension(
    conv: JPCoreConverter, prb14: str, status: str
) -> None:
    cond = Condition(
        patient_id="9999013", record_key="k", code=Coding("20054174", "胃炎", "MDCDX2"), clinical_status=prb14
    )
    res = conv.convert(cond)
    check_resource(res)
    assert res["clinicalStatus"]["coding"][0]["code"] == status
    assert res["extension"] == [
        {"url": S.DISEASE_OUTCOME, "valueCodeableConcept": {"coding": [{"system": S.HL70241, "code": prb14}]}}
    ]


def test_every_resource_from_a_storage_with_every_data_type_keeps_the_rules(tmp_path) -> None:
    from renkei.connectors.ssmix2.generator import generate_full

    conv = JPCoreConverter(FACILITY, "ssmix2", jp_core_version="1.2.0")
    written = generate_full(tmp_path, patients=4, seed=5, conditions=True, extended=True)
    emitted: dict[str, int] = {}
    for w in written:
        records = [r for r in w.records if r.kind.value != "note"]
        resources, refused = conv.convert_partitioned(records)
        for res in resources:
            assert profile_problems(res) == []
            # only the Specimen is base R4 (JP Core 1.1.2/1.2.0 have no Specimen profile)
            profile = res["meta"]["profile"][0].rsplit("/", 1)[-1] if res["resourceType"] != "Specimen" else "Specimen"
            emitted[profile] = emitted.get(profile, 0) + 1
            if res["resourceType"] == "Observation":
                assert res["category"][0]["coding"][0]["system"] == SIMPLE
        for _, why in refused:  # the synthetic storage's malformed codes only, each refused on its own
            assert "needs 17 characters" in str(why)
    assert {"JP_Observation_VitalSigns|1.2.0", "JP_Observation_BodyMeasurement|1.2.0", "JP_Patient|1.2.0"} <= set(
        emitted
    )

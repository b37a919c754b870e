"""Canonical records -> JP Core FHIR: real values, determinism, R4B structure and code checks, read-back."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta, timezone

import pytest

from renkei.connectors.fhir import FhirToCanonical, FhirValidationError, JPCoreConverter
from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._ids import canonical_json
from renkei.connectors.fhir.validate import check_resource
from renkei.errors import ConfigError, InputError
from renkei.records import (
    Allergy,
    Coding,
    Condition,
    Encounter,
    Medication,
    Note,
    Observation,
    Patient,
    RecordStatus,
)

FACILITY = "1311234567"
FACILITY_SYSTEM = "urn:oid:1.2.392.100495.20.3.51.11311234567"


@pytest.fixture
def conv() -> JPCoreConverter:
    return JPCoreConverter(FACILITY, source_system="ssmix2")


def patient() -> Patient:
    # Values from the NHO SS-MIX2 sample (ADT-00 / OMP-01 PID segment).
    return Patient(
        patient_id="9999013",
        record_key="9999013/ADT-00/@-/patient",
        name_kanji="患者 太郎",
        name_kana="カンジャ タロウ",
        birth_date=date(1948, 4, 5),
        sex="M",
        postcode="422-8033",
        address="静岡県静岡市登呂１−３−５",
        phones=["054-000-0000"],
    )


def lab() -> Observation:
    # OML-11 OBX|2|NM|3A010000002327101^総蛋白^JC10||7.2|g/dl^g/dl^99XYZ|6.70-8.3||||F|||201112191500
    return Observation(
        patient_id="9999013",
        record_key="9999013/OML-11/000000011000354/3A010000002327101",
        code=Coding("3A010000002327101", "総蛋白", "JC10"),
        local_code=Coding("10222", "ＴＰ", "99X03"),
        value="7.2",
        unit="g/dl",
        reference_range="6.70-8.3",
        abnormal_flag="N",
        effective=datetime(2011, 12, 19, 15, 0),
        result_status="F",
        order_no="000000011000354",
    )


def condition() -> Condition:
    # PPR-01 PRB|AD|20110915|20054174^胃炎^MDCDX2|…|K297^^I10
    return Condition(
        patient_id="9999013",
        record_key="9999013/PPR-01/123456789012345/20054174",
        code=Coding("20054174", "胃炎", "MDCDX2"),
        icd10="K297",
        modifiers=[Coding("8002", "の疑い", "MDCDX2")],
        onset=date(2011, 8, 31),
        clinical_status="active",
    )


def prescription() -> Medication:
    # OMP-01 RXE||108665201^ダーゼン錠（５mg)^HOT9|1||TAB^錠^MR9P …, RXR|PO^口^HL70162
    return Medication(
        patient_id="9999013",
        record_key="9999013/OMP-01/000000011000185/108665201",
        activity="prescription",
        drug=Coding("108665201", "ダーゼン錠（５mg)", "HOT9"),
        dose="1",
        dose_unit="錠",
        route="PO",
        timing="内服・経口・１日３回朝昼夕食後",
        start=datetime(2011, 7, 1),
        order_no="000000011000185",
        rp_number="1",
        order_in_rp=1,
    )


def test_patient_has_kanji_and_kana_names_and_facility_identifier(conv: JPCoreConverter) -> None:
    res = conv.convert(patient())
    check_resource(res)
    assert res["meta"]["profile"] == ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient|1.1.2"]
    assert {"system": FACILITY_SYSTEM, "value": "9999013"} in res["identifier"]
    kanji, kana = res["name"]
    assert kanji["extension"] == [{"url": S.EN_REPRESENTATION, "valueCode": "IDE"}]
    assert (kanji["family"], kanji["given"], kanji["text"]) == ("患者", ["太郎"], "患者 太郎")
    assert kana["extension"] == [{"url": S.EN_REPRESENTATION, "valueCode": "SYL"}]
    assert (kana["family"], kana["given"]) == ("カンジャ", ["タロウ"])
    assert res["gender"] == "male"
    assert res["birthDate"] == "1948-04-05"
    assert res["address"] == [
        {"use": "home", "text": "静岡県静岡市登呂１−３−５", "postalCode": "422-8033", "country": "JP"}
    ]


def test_full_width_space_splits_names(conv: JPCoreConverter) -> None:
    p = patient()
    p.name_kanji = "山田　花子"
    res = conv.convert(p)
    assert (res["name"][0]["family"], res["name"][0]["given"]) == ("山田", ["花子"])


def test_lab_result_has_jlac10_ucum_quantity_and_reference_range(conv: JPCoreConverter) -> None:
    res = conv.convert(lab())
    check_resource(res)
    assert res["meta"]["profile"] == ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_LabResult|1.1.2"]
    assert res["category"][0]["coding"][0]["code"] == "laboratory"
    assert res["code"]["coding"][0] == {
        "system": "http://medis.or.jp/CodeSystem/master-JLAC10-17digits",
        "code": "3A010000002327101",
        "display": "総蛋白",
    }
    assert res["code"]["coding"][1]["code"] == "10222"
    assert res["valueQuantity"] == {"value": 7.2, "unit": "g/dl", "system": "http://unitsofmeasure.org", "code": "g/dL"}
    rng = res["referenceRange"][0]
    assert (rng["low"]["value"], rng["high"]["value"], rng["text"]) == (6.7, 8.3, "6.70-8.3")
    assert res["effectiveDateTime"] == "2011-12-19T15:00:00+09:00"
    assert res["status"] == "final"
    assert res["subject"]["identifier"] == {"system": FACILITY_SYSTEM, "value": "9999013"}
    assert res["subject"]["reference"] == f"Patient/{conv.convert(patient())['id']}"


def test_unknown_unit_keeps_text_without_ucum_code(conv: JPCoreConverter) -> None:
    o = lab()
    o.unit = "倍"
    assert conv.convert(o)["valueQuantity"] == {"value": 7.2, "unit": "倍"}


def test_condition_has_medis_and_icd10_codes_and_modifier(conv: JPCoreConverter) -> None:
    res = conv.convert(condition())
    check_resource(res)
    assert res["code"]["coding"] == [
        {"system": "http://medis.or.jp/CodeSystem/master-disease-keyNumber", "code": "20054174", "display": "胃炎"},
        {"system": "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full", "code": "K297"},
    ]
    # JP Core: the modifier extensions' context is Condition.code, never the resource itself.
    assert "extension" not in res
    assert res["code"]["extension"][0]["url"] == S.POSTFIX_MODIFIER
    assert res["code"]["extension"][0]["valueCodeableConcept"]["coding"][0]["system"] == S.MEDIS_MODIFIER
    assert res["onsetDateTime"] == "2011-08-31"
    assert res["clinicalStatus"]["coding"][0]["code"] == "active"


def test_prescription_is_hot9_medication_request(conv: JPCoreConverter) -> None:
    res = conv.convert(prescription())
    check_resource(res)
    assert res["resourceType"] == "MedicationRequest"
    assert res["meta"]["profile"] == ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_MedicationRequest|1.1.2"]
    assert res["medicationCodeableConcept"]["coding"][0] == {
        "system": "http://medis.or.jp/CodeSystem/master-HOT9",
        "code": "108665201",
        "display": "ダーゼン錠（５mg)",
    }
    dosage = res["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 1, "unit": "錠"}
    assert dosage["route"]["coding"][0] == {"system": S.ROUTE_HL70162, "code": "PO"}
    assert dosage["timing"]["repeat"]["boundsPeriod"] == {"start": "2011-07-01T00:00:00+09:00"}
    assert {"system": S.ORDER_NO, "value": "000000011000185"} in res["identifier"]


def test_allergy_and_encounter_validate(conv: JPCoreConverter) -> None:
    allergy = Allergy(
        patient_id="12345678",
        record_key="a1",
        category=Coding("DA", "薬剤アレルギー", "HL70127"),
        allergen=Coding("106824501", "アリナミン", "HOT9"),
        severity="MO",
        reaction="のどの渇きが止まらない",
    )
    res = conv.convert(allergy)
    check_resource(res)
    assert res["category"] == ["medication"]
    assert res["reaction"][0]["severity"] == "moderate"
    enc = conv.convert(
        Encounter(
            patient_id="9999013",
            record_key="e1",
            event="discharge",
            patient_class="I",
            occurred_at=datetime(2011, 12, 20, 10, 0),
        )
    )
    check_resource(enc)
    assert (enc["status"], enc["class"]["code"], enc["period"]) == (
        "finished",
        "IMP",
        {"end": "2011-12-20T10:00:00+09:00"},
    )


def test_conversion_is_deterministic(conv: JPCoreConverter) -> None:
    records = [patient(), lab(), condition(), prescription()]
    first = [canonical_json(conv.convert(r)) for r in records]
    again = [canonical_json(JPCoreConverter(FACILITY, source_system="ssmix2").convert(r)) for r in records]
    assert first == again
    assert len({conv.convert(r)["id"] for r in records}) == 4


def test_ids_depend_on_facility_source_and_record_key(conv: JPCoreConverter) -> None:
    base = conv.convert(lab())["id"]
    assert JPCoreConverter("2711234567", source_system="ssmix2").convert(lab())["id"] != base
    assert JPCoreConverter(FACILITY, source_system="mllp").convert(lab())["id"] != base
    other = lab()
    other.record_key += "#2"
    assert conv.convert(other)["id"] != base
    # The value is not part of the identity: a corrected result updates the same resource.
    corrected = lab()
    corrected.value = "7.4"
    assert conv.convert(corrected)["id"] == base


def test_patient_id_is_shared_across_sources() -> None:
    a = JPCoreConverter(FACILITY, source_system="ssmix2").convert(patient())["id"]
    b = JPCoreConverter(FACILITY, source_system="mllp").convert(patient())["id"]
    assert a == b


def test_record_without_key_is_keyed_by_content(conv: JPCoreConverter) -> None:
    o1, o2 = lab(), lab()
    o1.record_key = o2.record_key = ""
    o2.source = "elsewhere"
    assert conv.convert(o1)["id"] == conv.convert(o2)["id"]
    o2.value = "9.9"
    assert conv.convert(o1)["id"] != conv.convert(o2)["id"]


def test_r4b_catches_broken_structure(conv: JPCoreConverter) -> None:
    res = conv.convert(lab())
    broken = copy.deepcopy(res)
    broken["effectiveDateTime"] = "2011-12-19T15:00:00"  # a time without zone is not a FHIR dateTime
    with pytest.raises(FhirValidationError, match=r"Observation\.effectiveDateTime"):
        check_resource(broken)
    broken = copy.deepcopy(res)
    broken["valueQuantity"]["value"] = "seven"
    with pytest.raises(FhirValidationError, match=r"valueQuantity"):
        check_resource(broken)
    broken = copy.deepcopy(res)
    broken["subjekt"] = broken.pop("subject")
    with pytest.raises(FhirValidationError, match="subjekt"):
        check_resource(broken)


def test_code_checks_catch_what_r4b_lets_through(conv: JPCoreConverter) -> None:
    short = lab()
    short.code = Coding("3A0100000023271", "総蛋白", "JC10")  # 15 characters
    with pytest.raises(FhirValidationError, match=r"JLAC10 needs 17 characters.*got 15") as info:
        check_resource(conv.convert(short))
    assert "3A0100000023271" not in str(info.value)
    res = conv.convert(patient())
    res["gender"] = "M"  # a valid FHIR code token, not an administrative-gender value
    with pytest.raises(FhirValidationError, match=r"Patient\.gender"):
        check_resource(res)
    bad_hot = prescription()
    bad_hot.drug = Coding("10866520", "", "HOT9")
    with pytest.raises(FhirValidationError, match="HOT9 needs 9 digits"):
        check_resource(conv.convert(bad_hot))
    bad_icd = condition()
    bad_icd.icd10 = "胃炎"
    with pytest.raises(FhirValidationError, match="ICD-10") as info:
        check_resource(conv.convert(bad_icd))
    assert "胃炎" not in str(info.value)


def test_bad_sex_and_facility_are_refused() -> None:
    p = patient()
    p.sex = "X"
    with pytest.raises(InputError, match="sex code") as info:
        JPCoreConverter(FACILITY).convert(p)
    assert "患者" not in str(info.value)
    with pytest.raises(ConfigError, match="10-digit"):
        JPCoreConverter("13112345")


def test_a_note_becomes_a_communication_keyed_by_its_record(conv: JPCoreConverter) -> None:
    note = Note(patient_id="9999013", text="デイサービス開始", author="nurse.sato", record_key="matrix/$ev1",
                written_at=datetime(2024, 4, 1, 9, 30, tzinfo=timezone(timedelta(hours=9))), tags=["返信"])
    (res,) = conv.convert_checked([note])
    assert res["resourceType"] == "Communication" and res["status"] == "completed"
    assert res["payload"] == [{"contentString": "デイサービス開始"}]
    assert res["subject"]["identifier"] == {"system": FACILITY_SYSTEM, "value": "9999013"}
    assert res["sender"] == {"identifier": {"system": "urn:renkei:member", "value": "nurse.sato"}}
    assert res["sent"].startswith("2024-04-01T09:30:00+09:00")
    assert {"system": "urn:renkei:record-key", "value": "matrix/$ev1"} in res["identifier"]
    assert conv.convert(note)["id"] == res["id"]  # the same reply is the same resource


def test_read_back_restores_the_canonical_records(conv: JPCoreConverter) -> None:
    back = FhirToCanonical(FACILITY_SYSTEM)
    allergy = Allergy(
        patient_id="12345678",
        record_key="a1",
        category=Coding("FA", "食物アレルギー", "HL70127"),
        allergen=Coding("5A1002411023006", "ソバ", "JC10"),
        severity="MO",
        reaction="湿疹",
    )
    for record in (patient(), lab(), condition(), allergy):
        assert back.parse(conv.convert(record)) == [record]


def test_deleted_lab_result_reads_back_as_deleted(conv: JPCoreConverter) -> None:
    o = lab()
    o.status = RecordStatus.DELETED
    res = conv.convert(o)
    assert res["status"] == "entered-in-error"
    assert FhirToCanonical(FACILITY_SYSTEM).parse(res)[0].status == RecordStatus.DELETED

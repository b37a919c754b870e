"""ADT-00 observations carry effective[x]; one Encounter per stay with JP Core department and doctor systems."""

from __future__ import annotations

from datetime import datetime

import pytest

from renkei.connectors.fhir import JPCoreConverter
from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._rules import profile_problems
from renkei.connectors.fhir.validate import check_resource
from renkei.connectors.hl7v2 import parse_message
from renkei.errors import InputError
from renkei.records import Coding, Encounter, Medication, Observation, RecordStatus

FACILITY = "1311234567"


def adt00(evn: str) -> str:
    return "\r".join(
        [
            "MSH|^~\\&|HIS|FAC|||20240401093000||ADT^A08^ADT_A01|1|P|2.5||||||~ISO IR87||ISO 2022-1994",
            *([evn] if evn else []),
            "PID|0001||9999013^^^^PI||テスト^太郎^^^^^L^I||19600101|M",
            "PV1|0001|O",
            "OBX|1|NM|9N001000000000001^身長^JC10||170.5|cm^cm^ISO+|||||F",
        ]
    )


@pytest.mark.parametrize(
    ("evn", "effective"),
    [("EVN||20240401090000", "2024-04-01T09:00:00+09:00"), ("", "2024-04-01T09:30:00+09:00")],
)
def test_adt00_body_measurement_takes_the_event_time_else_the_message_time(evn: str, effective: str) -> None:
    records = parse_message(adt00(evn), "9999013/-/ADT-00/x").records
    obs = [r for r in records if isinstance(r, Observation)]
    assert [o.value for o in obs] == ["170.5"]
    res = JPCoreConverter(FACILITY, "ssmix2", jp_core_version="1.2.0").convert(obs[0])
    check_resource(res)
    assert res["meta"]["profile"] == [S.PROFILE["Observation.body"] + "|1.2.0"]
    assert res["effectiveDateTime"] == effective


def test_a_body_measurement_without_a_time_breaks_the_rule_table() -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2")

    height = Observation(patient_id="9999013", code=Coding("9N001000000000001", "身長", "JC10"), value="170", unit="cm")
    res = conv.convert(height)
    assert [p[0] for p in profile_problems(res)] == ["Observation.effective[x]"]
    with pytest.raises(InputError, match=r"effective\[x\]"):
        check_resource(res)


def stay(event: str, when: datetime, **kw) -> Encounter:
    return Encounter(
        patient_id="9999013",
        record_key=f"9999013/{event}/{when:%Y%m%d}",
        event=event,
        occurred_at=when,
        patient_class="I",
        department="01",
        attending="D0042",
        admitted_at=kw.pop("admitted_at", datetime(2024, 4, 1, 10, 0)),
        **kw,
    )


@pytest.mark.parametrize("version", ["1.1.2", "1.2.0"])
def test_one_encounter_per_stay_in_progress_until_discharge(version: str) -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2", jp_core_version=version)
    admission = conv.convert(stay("admission", datetime(2024, 4, 1, 10, 0)))
    transfer = conv.convert(stay("transfer", datetime(2024, 4, 5, 14, 0)))
    discharge = conv.convert(stay("discharge", datetime(2024, 4, 12, 11, 0)))
    for res in (admission, transfer, discharge):
        check_resource(res)
    assert admission["id"] == transfer["id"] == discharge["id"]
    assert [r["status"] for r in (admission, transfer, discharge)] == ["in-progress", "in-progress", "finished"]
    assert admission["period"] == {"start": "2024-04-01T10:00:00+09:00"}
    assert discharge["period"] == {"start": "2024-04-01T10:00:00+09:00", "end": "2024-04-12T11:00:00+09:00"}
    department = {
        "1.1.2": "urn:oid:1.2.392.200250.2.2.2",
        "1.2.0": "http://jami.jp/SS-MIX2/CodeSystem/ClinicalDepartment",
    }
    assert discharge["serviceType"] == {"coding": [{"system": department[version], "code": "01"}]}
    assert discharge["participant"] == [
        {
            "individual": {
                "type": "Practitioner",
                "identifier": {"system": "urn:oid:1.2.392.100495.20.3.41.11311234567", "value": "D0042"},
            }
        }
    ]


def test_stays_are_told_apart_by_visit_number_else_admission_date() -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2")
    first = conv.convert(stay("admission", datetime(2024, 4, 1, 10, 0)))
    second = conv.convert(stay("admission", datetime(2024, 6, 1, 10, 0), admitted_at=datetime(2024, 6, 1, 10, 0)))
    assert first["id"] != second["id"]
    by_number = [
        conv.convert(stay(ev, when, visit_number="V123", admitted_at=None))
        for ev, when in (("admission", datetime(2024, 4, 1, 10)), ("discharge", datetime(2024, 4, 9, 10)))
    ]
    assert by_number[0]["id"] == by_number[1]["id"] != first["id"]
    assert {"system": S.VISIT_NUMBER, "value": "V123"} in by_number[1]["identifier"]


def test_a_cancelled_discharge_reopens_the_stay_a_cancelled_admission_retracts_it() -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2")
    undone = conv.convert(stay("discharge", datetime(2024, 4, 12, 11), status=RecordStatus.DELETED))
    assert (undone["status"], undone["period"]) == ("in-progress", {"start": "2024-04-01T10:00:00+09:00"})
    retracted = conv.convert(stay("admission", datetime(2024, 4, 1, 10), status=RecordStatus.DELETED))
    assert retracted["status"] == "entered-in-error"
    assert retracted["id"] == undone["id"]


def test_the_rule_table_refuses_renkei_systems_for_department_and_doctor() -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2")
    res = conv.convert(stay("admission", datetime(2024, 4, 1, 10)))
    res["serviceType"]["coding"][0]["system"] = "urn:renkei:v2-cs:department"
    res["participant"][0]["individual"]["identifier"]["system"] = "urn:renkei:staff"
    assert sorted(p[0] for p in profile_problems(res)) == ["Encounter.participant.individual", "Encounter.serviceType"]


def test_parsed_adt_events_carry_the_visit_number_and_admission_date() -> None:
    text = "\r".join(
        [
            "MSH|^~\\&|HIS|FAC|||20240405141000||ADT^A02^ADT_A02|2|P|2.5||||||~ISO IR87||ISO 2022-1994",
            "EVN||20240405141000||||20240405140000",
            "PID|0001||9999013^^^^PI||テスト^太郎^^^^^L^I||19600101|M",
            "PV1|0001|I|51^501^1^^^N|||||||01|||||||||V123|||||||||||||||||||||||||20240401100000",
        ]
    )
    (enc,) = [r for r in parse_message(text, "9999013/20240405/ADT-42/x").records if isinstance(r, Encounter)]
    assert (enc.event, enc.visit_number, enc.admitted_at) == (
        "transfer",
        "V123",
        datetime.fromisoformat("2024-04-01T10:00:00+09:00"),
    )


@pytest.mark.parametrize("system", ["LN", "LOINC", "2.16.840.1.113883.6.1"])
def test_document_types_are_loinc_and_cda_narrative_is_labelled_as_text(system: str) -> None:
    import base64

    from renkei.records import Document

    doc = Document(
        patient_id="9999013",
        record_key="d1",
        title="退院時サマリー",
        code=Coding("18842-5", "Discharge summary", system),
        media_type="application/hl7-cda+xml",
        text="経過良好にて退院",
    )
    res = JPCoreConverter(FACILITY, "ssmix2").convert(doc)
    check_resource(res)
    assert res["type"]["coding"] == [{"system": "http://loinc.org", "code": "18842-5", "display": "Discharge summary"}]
    attachment = res["content"][0]["attachment"]
    assert attachment["contentType"] == "text/plain; charset=utf-8"
    assert base64.b64decode(attachment["data"]).decode("utf-8") == "経過良好にて退院"


def omp01_record(**kw) -> Medication:
    # RXE||108665201^ダーゼン錠（５mg)^HOT9|1||TAB^錠^MR9P …, TQ1|1||1013044400000000&…&JAMISDP01|||14^d|…
    base = dict(
        patient_id="9999013",
        record_key="9999013/OMP-01/000000011000185/1/108665201",
        activity="prescription",
        drug=Coding("108665201", "ダーゼン錠（５mg)", "HOT9"),
        dose="1",
        dose_unit="TAB",
        dose_unit_system="MR9P",
        route="PO",
        timing="１日３回朝昼夕食後",
        usage=Coding("1013044400000000", "１日３回朝昼夕食後", "JAMISDP01"),
        supply_days="14",
        start=datetime(2024, 4, 2),
        authored_at=datetime(2024, 4, 1, 10, 30),
        order_no="000000011000185",
        rp_number="1",
        order_in_rp=1,
    )
    base.update(kw)
    return Medication(**base)


@pytest.mark.parametrize(
    ("version", "rp", "place", "merit9", "usage"),
    [
        (
            "1.1.2",
            "urn:oid:1.2.392.100495.20.3.81",
            "urn:oid:1.2.392.100495.20.3.82",
            "urn:oid:1.2.392.100495.20.2.101",
            "urn:oid:1.2.392.200250.2.2.20.20",
        ),
        (
            "1.2.0",
            "http://jpfhir.jp/fhir/core/mhlw/IdSystem/Medication-RPGroupNumber",
            "http://jpfhir.jp/fhir/core/mhlw/IdSystem/MedicationAdministrationIndex",
            "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/MedicationUnitMERIT9Code",
            "http://jami.jp/CodeSystem/MedicationUsage",
        ),
    ],
)
def test_prescription_carries_rp_order_in_rp_authored_on_merit9_usage_and_days(
    version: str, rp: str, place: str, merit9: str, usage: str
) -> None:
    res = JPCoreConverter(FACILITY, "ssmix2", jp_core_version=version).convert(omp01_record())
    check_resource(res)
    assert {"system": rp, "value": "1"} in res["identifier"]
    assert {"system": place, "value": "1"} in res["identifier"]
    assert res["authoredOn"] == "2024-04-01T10:30:00+09:00"
    dosage = res["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 1, "unit": "TAB", "system": merit9, "code": "TAB"}
    assert dosage["timing"]["code"]["coding"] == [
        {"system": usage, "code": "1013044400000000", "display": "１日３回朝昼夕食後"}
    ]
    assert res["dispenseRequest"]["expectedSupplyDuration"] == {
        "value": 14,
        "unit": "日",
        "system": "http://unitsofmeasure.org",
        "code": "d",
    }


def test_a_prescription_without_its_rp_number_is_refused_with_the_reason() -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2")
    resources, refused = conv.convert_partitioned([omp01_record(rp_number=""), omp01_record(record_key="other")])
    assert len(resources) == 1 and [i for i, _ in refused] == [0]
    assert "urn:oid:1.2.392.100495.20.3.81" in str(refused[0][1]) and "rpNumber 1..1" in str(refused[0][1])


def test_injection_names_its_drug_by_a_contained_jp_medication() -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2", jp_core_version="1.2.0")
    inj = omp01_record(activity="injection", rp_number="000000011000185_01_001", order_in_rp=2, usage=None)
    res = conv.convert(inj)
    check_resource(res)
    assert res["meta"]["profile"] == [S.PROFILE["MedicationRequest.injection"] + "|1.2.0"]
    assert "medicationCodeableConcept" not in res
    assert res["medicationReference"] == {"reference": "#medication"}
    (drug,) = res["contained"]
    assert drug["meta"]["profile"] == [S.MEDICATION_PROFILE + "|1.2.0"]
    assert drug["code"]["coding"][0]["code"] == "108665201"
    assert {"system": S.ORDER_IN_RP["1.2.0"], "value": "2"} in res["identifier"]
    res["medicationCodeableConcept"] = res.pop("medicationReference") and drug["code"]
    assert [p[0] for p in profile_problems(res)] == ["MedicationRequest.medication[x]"]


def test_injection_administration_uses_the_injection_profile_and_oral_keeps_a_code() -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2")
    given = datetime(2024, 4, 2, 9, 0)
    inj = conv.convert(omp01_record(activity="injection_administration", start=given, usage=None))
    oral = conv.convert(omp01_record(activity="administration", start=given, usage=None))
    for res in (inj, oral):
        check_resource(res)
        assert res["resourceType"] == "MedicationAdministration"
        assert res["effectiveDateTime"] == "2024-04-02T09:00:00+09:00"
    assert inj["meta"]["profile"] == [S.PROFILE["MedicationAdministration.injection"] + "|1.1.2"]
    assert inj["medicationReference"] == {"reference": "#medication"}
    assert inj["contained"][0]["code"]["coding"][0]["code"] == "108665201"
    assert oral["meta"]["profile"] == [S.PROFILE["MedicationAdministration"] + "|1.1.2"]
    assert oral["medicationCodeableConcept"]["coding"][0]["code"] == "108665201"

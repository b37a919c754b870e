"""ADT-00 observations carry effective[x]; one Encounter per stay with JP Core department and doctor systems."""

from __future__ import annotations

from datetime import datetime

import pytest

from renkei.connectors.fhir import JPCoreConverter
from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._rules import profile_problems
from renkei.connectors.fhir.validate import check_resource
from renkei.connectors.ssmix2.message import parse_message
from renkei.errors import InputError
from renkei.records import Encounter, Observation, RecordStatus

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
    from renkei.records import Coding

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

    from renkei.records import Coding, Document

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

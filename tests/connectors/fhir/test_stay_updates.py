"""Encounter events update their stay (admission -> transfer -> discharge) instead of rewriting it, and a late
older event never regresses a newer state; the allergy carries only what JP Core defines (no private URL)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import reduce

import pytest
import responses

from renkei.connectors.fhir import FhirDestination, FhirToCanonical, JPCoreConverter
from renkei.connectors.fhir._encounter import merge_stay
from renkei.connectors.fhir.validate import check_resource
from renkei.records import Allergy, Coding, Encounter, RecordStatus

FACILITY = "1311234567"
BASE = "https://fhir.example.jp/fhir/R4"
ADMIT, MOVE, LEAVE = datetime(2024, 4, 1, 10, 0), datetime(2024, 4, 5, 14, 0), datetime(2024, 4, 12, 11, 0)


def event(kind: str, when: datetime, **kw) -> dict:
    conv = JPCoreConverter(FACILITY, "ssmix2", jp_core_version=kw.pop("version", "1.1.2"))
    return conv.convert(
        Encounter(
            patient_id="9999013", record_key=f"9999013/ADT/{kind}/{when:%Y%m%d%H%M}", event=kind, occurred_at=when,
            patient_class="I", department=kw.pop("department", "01"), attending=kw.pop("attending", "D0042"),
            admitted_at=ADMIT, **kw,
        )
    )  # fmt: skip


def fold(*events: dict) -> dict:
    return reduce(merge_stay, events)


def test_admission_transfer_discharge_build_one_stay_with_its_history_and_wards() -> None:
    stay = fold(
        event("admission", ADMIT, location="5A-501"),
        event("transfer", MOVE, location="6B-602", department="02", attending="D0077"),
        event("discharge", LEAVE, department="", attending=""),
    )
    check_resource(stay)
    assert stay["status"] == "finished"
    assert stay["period"] == {"start": "2024-04-01T10:00:00+09:00", "end": "2024-04-12T11:00:00+09:00"}
    assert [(h["status"], h["period"]["start"][:10]) for h in stay["statusHistory"]] == [
        ("in-progress", "2024-04-01"), ("in-progress", "2024-04-05"), ("finished", "2024-04-12"),
    ]  # fmt: skip
    assert [(w["location"]["display"], w["status"]) for w in stay["location"]] == [
        ("5A-501", "completed"), ("6B-602", "completed"),
    ]  # fmt: skip
    # The discharge names no department or doctor: the transfer's stay (the newest that does).
    assert stay["serviceType"]["coding"][0]["code"] == "02"
    assert stay["participant"][0]["individual"]["identifier"]["value"] == "D0077"
    assert [t["coding"][0]["code"] for t in stay["type"]] == ["admission", "transfer", "discharge"]


def test_while_in_the_ward_the_newest_ward_is_active() -> None:
    stay = fold(event("admission", ADMIT, location="5A-501"), event("transfer", MOVE, location="6B-602"))
    assert stay["status"] == "in-progress" and "end" not in stay["period"]
    assert [(w["location"]["display"], w["status"]) for w in stay["location"]] == [
        ("5A-501", "completed"), ("6B-602", "active"),
    ]  # fmt: skip


@pytest.mark.parametrize("late", ["admission", "transfer"])
def test_a_late_older_event_never_reopens_a_discharged_stay(late: str) -> None:
    discharged = fold(event("admission", ADMIT), event("discharge", LEAVE))
    when = ADMIT if late == "admission" else MOVE
    after = merge_stay(discharged, event(late, when, department="09", attending="D0001"))
    check_resource(after)
    assert after["status"] == "finished"
    assert after["period"]["end"] == "2024-04-12T11:00:00+09:00"
    assert after["serviceType"]["coding"][0]["code"] == "01" and after["participant"] == discharged["participant"]
    assert after["statusHistory"][-1]["status"] == "finished"
    assert len(after["statusHistory"]) == (2 if late == "admission" else 3)  # the transfer joins the history


def test_a_discharge_arriving_before_its_admission_still_ends_the_stay() -> None:
    stay = fold(event("discharge", LEAVE), event("admission", ADMIT))
    assert (stay["status"], stay["period"]["start"][:10], stay["period"]["end"][:10]) == (
        "finished", "2024-04-01", "2024-04-12",
    )  # fmt: skip


def test_a_newer_cancelled_discharge_reopens_and_a_replayed_event_changes_nothing() -> None:
    discharged = fold(event("admission", ADMIT), event("discharge", LEAVE))
    cancel = event("discharge", datetime(2024, 4, 12, 15, 0), status=RecordStatus.DELETED)
    reopened = merge_stay(discharged, cancel)
    assert reopened["status"] == "in-progress" and "end" not in reopened["period"]
    assert merge_stay(reopened, cancel) == reopened


@responses.activate
def test_the_destination_merges_an_event_into_the_stay_the_server_holds() -> None:
    current = fold(event("admission", ADMIT), event("discharge", LEAVE))
    server_meta = {"versionId": "3", "lastUpdated": "2024-04-12T02:00:00Z"}
    server_copy = {**current, "id": "server-assigned", "meta": server_meta}
    responses.add(
        responses.GET, f"{BASE}/Encounter",
        json={"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": server_copy}]},
    )  # fmt: skip
    sent: list[dict] = []

    def answer(request):
        sent.append(json.loads(request.body))
        entries = [{"response": {"status": "200 OK", "location": "Encounter/server-assigned/_history/4"}}]
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})

    responses.add_callback(responses.POST, BASE, callback=answer, content_type="application/fhir+json")
    dest = FhirDestination("d", FhirDestination.Settings(base_url=BASE, facility_code=FACILITY))
    late = Encounter(
        patient_id="9999013", record_key="9999013/ADT/transfer/late", event="transfer", occurred_at=MOVE,
        patient_class="I", department="09", admitted_at=ADMIT,
    )  # fmt: skip
    dest.deliver({"records": [late.to_dict()]}, "late-transfer")
    assert "identifier=urn%3Arenkei%3Arecord-id" in responses.calls[0].request.url
    [entry] = [e for e in sent[0]["entry"] if e["resource"]["resourceType"] == "Encounter"]
    body = entry["resource"]
    assert body["status"] == "finished" and body["period"]["end"] == "2024-04-12T11:00:00+09:00"
    assert body["serviceType"]["coding"][0]["code"] == "01"
    assert len(body["statusHistory"]) == 3
    assert "versionId" not in body["meta"]
    dest.close()


def test_allergy_carries_category_and_type_only_and_reads_back() -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2")
    pollen = Allergy(
        patient_id="9999013", record_key="a/LA", category=Coding("LA", "花粉アレルギー", "HL70127"),
        allergen=Coding("5A1002216023023", "スギ", "JC10"),
    )  # fmt: skip
    res = conv.convert(pollen)
    assert "extension" not in res
    assert "urn:renkei" not in json.dumps({k: v for k, v in res.items() if k != "identifier"})
    assert (res["category"], res["type"]) == (["environment"], "allergy")
    back = FhirToCanonical(f"urn:oid:1.2.392.100495.20.3.51.1{FACILITY}").parse(res)[0]
    assert back.category == Coding("EA", "環境アレルギー", "HL70127")  # JP Core keeps the kind, not LA itself


@pytest.mark.integration
def test_on_medplum_three_events_arriving_out_of_order_make_one_finished_stay(medplum, monkeypatch) -> None:
    import uuid

    monkeypatch.setenv("RENKEI_TEST_MEDPLUM_TOKEN", medplum.token)
    settings = FhirDestination.Settings(
        base_url=medplum.base_url, auth="env:RENKEI_TEST_MEDPLUM_TOKEN", facility_code=FACILITY, source_system="ssmix2"
    )
    dest = FhirDestination("fhir", settings)
    pid = str(uuid.uuid4().int)[:10]

    def ev(kind: str, when: datetime) -> dict:
        return Encounter(
            patient_id=pid, record_key=f"{pid}/ADT/{kind}", event=kind, occurred_at=when, patient_class="I",
            department="01", admitted_at=ADMIT, location="5A" if kind != "transfer" else "6B",
        ).to_dict()  # fmt: skip

    receipts = [dest.deliver({"records": [ev(k, t)]}, k) for k, t in (("admission", ADMIT), ("discharge", LEAVE))]
    late = dest.deliver({"records": [ev("transfer", MOVE)]}, "transfer")
    refs = {r.split()[-1] for r in [*receipts, late]}
    assert len(refs) == 1  # one Encounter for the stay, updated three times
    stay = dest.client.read("Encounter", refs.pop().split("/")[1])
    assert stay["status"] == "finished" and stay["period"]["end"].startswith("2024-04-12")
    assert [h["status"] for h in stay["statusHistory"]] == ["in-progress", "in-progress", "finished"]
    dest.close()

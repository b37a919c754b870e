"""Against a real FHIR R4 server (Medplum fhir-router, validating, in memory; see conftest.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from datetime import date, datetime
from pathlib import Path

import pytest
import requests

from renkei.connectors.base import Attachment, ConnectorContext, TimelinePost
from renkei.connectors.fhir import (
    FhirCommunicationTimeline,
    FhirDestination,
    FhirPermanentError,
    FhirSource,
)
from renkei.errors import NotFoundError, PermanentDeliveryError
from renkei.records import Allergy, Coding, Condition, Observation, Patient

pytestmark = pytest.mark.integration
FACILITY = "1311234567"
TOKEN_ENV = "RENKEI_TEST_MEDPLUM_TOKEN"


@pytest.fixture
def auth(medplum, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TOKEN_ENV, medplum.token)
    return f"env:{TOKEN_ENV}"


def _records(pid: str) -> list:
    return [
        Patient(
            patient_id=pid,
            record_key=f"{pid}/ADT-00/@-/patient",
            name_kanji="患者 太郎",
            name_kana="カンジャ タロウ",
            birth_date=date(1948, 4, 5),
            sex="M",
            postcode="422-8033",
            address="静岡県静岡市登呂１−３−５",
            phones=["054-000-0000"],
        ),
        Observation(
            patient_id=pid,
            record_key=f"{pid}/OML-11/000000011000354/3A010000002327101",
            code=Coding("3A010000002327101", "総蛋白", "JC10"),
            local_code=Coding("10222", "ＴＰ", "99X03"),
            value="7.2",
            unit="g/dl",
            reference_range="6.70-8.3",
            abnormal_flag="N",
            effective=datetime(2011, 12, 19, 15, 0),
            result_status="F",
            order_no="000000011000354",
        ),
        Observation(
            patient_id=pid,
            record_key=f"{pid}/OML-11/000000011000354/3A016000002327102",
            code=Coding("3A016000002327102", "A/G比", "JC10"),
            value="1.7",
            reference_range="1.2-2.0",
            effective=datetime(2011, 12, 19, 15, 0),
            result_status="F",
            order_no="000000011000354",
        ),
        Condition(
            patient_id=pid,
            record_key=f"{pid}/PPR-01/123456789012345/20054174",
            code=Coding("20054174", "胃炎", "MDCDX2"),
            icd10="K297",
            onset=date(2011, 8, 31),
            clinical_status="active",
        ),
        Allergy(
            patient_id=pid,
            record_key=f"{pid}/ADT-61/@-/106824501",
            category=Coding("DA", "薬剤アレルギー", "HL70127"),
            allergen=Coding("106824501", "アリナミン", "HOT9"),
            severity="MO",
            reaction="のどの渇きが止まらない",
        ),
    ]


def _observation_ref(receipt: str) -> str:
    """The one Observation of a receipt (a lab result also brings its order's DiagnosticReport)."""
    [ref] = [r for r in receipt.split() if r.startswith("Observation/")]
    return ref


def _new_pid() -> str:
    return str(uuid.uuid4().int)[:10]


def _destination(medplum, auth: str) -> FhirDestination:
    settings = FhirDestination.Settings(
        base_url=medplum.base_url, auth=auth, facility_code=FACILITY, source_system="ssmix2"
    )
    return FhirDestination("fhir", settings)


def test_transaction_twice_holds_each_resource_once(medplum, auth: str) -> None:
    pid = _new_pid()
    dest = _destination(medplum, auth)
    payload = {"records": [r.to_dict() for r in _records(pid)]}
    first = dest.deliver(payload, "k1")
    second = dest.deliver(payload, "k1")
    assert first == second
    assert len(first.split()) == 6  # + the DiagnosticReport grouping the order's two results
    system = f"urn:oid:1.2.392.100495.20.3.51.1{FACILITY}"
    assert medplum.count("Patient", identifier=f"{system}|{pid}") == 1
    patient_ref = first.split()[0]
    assert medplum.count("Observation", subject=patient_ref) == 2
    assert medplum.count("Condition", subject=patient_ref) == 1
    assert medplum.count("AllergyIntolerance", patient=patient_ref) == 1


def test_split_transactions_stay_idempotent(medplum, auth: str) -> None:
    pid = _new_pid()
    settings = FhirDestination.Settings(
        base_url=medplum.base_url, auth=auth, facility_code=FACILITY, max_bundle_entries=2
    )
    dest = FhirDestination("fhir", settings)
    payload = {"records": [r.to_dict() for r in _records(pid)]}
    first = dest.deliver(payload, "k")
    assert dest.deliver(payload, "k") == first
    patient_ref = first.split()[0]
    assert len(first.split()) == 6  # the patient re-found by every part is listed once; + the lab report
    assert medplum.count("Patient", identifier=f"urn:oid:1.2.392.100495.20.3.51.1{FACILITY}|{pid}") == 1
    assert medplum.count("Observation", subject=patient_ref) == 2
    dest.close()


def test_medplum_refuses_big_conditional_transactions(medplum, auth: str) -> None:
    pid = _new_pid()
    records = _records(pid) + [
        Observation(patient_id=pid, record_key=f"{pid}/OML-11/2/{i}", value=str(i), unit="g/dl",
                    code=Coding("3A010000002327101", "総蛋白", "JC10"), result_status="F")
        for i in range(4)
    ]  # fmt: skip
    with pytest.raises(FhirPermanentError, match="too many entries"):
        _destination(medplum, auth).deliver({"records": [r.to_dict() for r in records]}, "big")


def test_observation_alone_links_to_existing_patient(medplum, auth: str) -> None:
    pid = _new_pid()
    dest = _destination(medplum, auth)
    records = _records(pid)
    patient_ref = dest.deliver(records[0].to_dict(), "p").split()[0]
    receipt = dest.deliver(records[1].to_dict(), "o")
    assert receipt.split()[0] == patient_ref  # the stub's conditional create found the real Patient
    assert medplum.count("Patient", identifier=f"urn:oid:1.2.392.100495.20.3.51.1{FACILITY}|{pid}") == 1


def test_a_corrected_value_updates_in_place(medplum, auth: str) -> None:
    pid = _new_pid()
    dest = _destination(medplum, auth)
    obs = _records(pid)[1]
    ref = _observation_ref(dest.deliver(obs.to_dict(), "a"))
    obs.value = "7.4"
    assert _observation_ref(dest.deliver(obs.to_dict(), "b")) == ref
    stored = requests.get(f"{medplum.base_url}/{ref}", headers=medplum.headers, timeout=10).json()
    assert stored["valueQuantity"]["value"] == 7.4


def test_server_side_validation_error_is_permanent(medplum, auth: str) -> None:
    dest = _destination(medplum, auth)
    bad = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "nickname": "患者"},
                "request": {"method": "POST", "url": "Patient"},
            }
        ],
    }
    with pytest.raises(PermanentDeliveryError):
        dest.deliver(bad, "bad")  # our own R4B check refuses it before sending
    with pytest.raises(FhirPermanentError, match="HTTP 400") as info:
        dest.client.create({"resourceType": "Patient", "nickname": "患者"})
    assert "患者" not in str(info.value)


def test_wrong_token_is_permanent(medplum) -> None:
    os.environ["RENKEI_TEST_WRONG_TOKEN"] = "nope"
    try:
        dest = FhirDestination(
            "fhir",
            FhirDestination.Settings(
                base_url=medplum.base_url, auth="env:RENKEI_TEST_WRONG_TOKEN", facility_code=FACILITY
            ),
        )
        with pytest.raises(FhirPermanentError, match="HTTP 401"):
            dest.deliver(_records(_new_pid())[0].to_dict(), "x")
    finally:
        del os.environ["RENKEI_TEST_WRONG_TOKEN"]


def test_source_reads_back_what_was_posted(medplum, auth: str, tmp_path: Path) -> None:
    pid = _new_pid()
    originals = _records(pid)
    _destination(medplum, auth).deliver({"records": [r.to_dict() for r in originals]}, "src")
    settings = FhirSource.Settings(base_url=medplum.base_url, auth=auth, facility_code=FACILITY, page_size=2)
    source = FhirSource("fhir-in", settings, ConnectorContext(data_dir=tmp_path))
    items = list(source.scan())
    assert source.position()  # stored once the scan was consumed
    got = []
    for item in items:
        rtype, _rid, _, version = item.key.split("/")
        assert item.fingerprint == version and item.group == rtype
        parsed = source.parse(item.key, source.read(item.key))
        got.extend(r for r in parsed.records if r.patient_id == pid)
    assert len(got) == len(originals)  # paging (2 per page) brought every one
    assert all("/_history/" in r.source for r in got)  # where each record was read from
    by_key = {r.record_key: dataclasses.replace(r, source="") for r in got}
    assert by_key == {r.record_key: r for r in originals}


def test_source_scans_only_newer_changes(medplum, auth: str, tmp_path: Path) -> None:
    settings = FhirSource.Settings(
        base_url=medplum.base_url, auth=auth, facility_code=FACILITY, resource_types=["Observation"], overlap_seconds=0
    )
    source = FhirSource("fhir-new", settings, ConnectorContext(data_dir=tmp_path))
    list(source.scan())
    stored = json.loads((tmp_path / "fhir-source" / "fhir-new.json").read_text())["last_updated"]
    assert list(source.scan()) == []  # nothing changed since
    pid = _new_pid()
    _destination(medplum, auth).deliver(_records(pid)[1].to_dict(), "new")
    items = list(source.scan())
    assert len(items) == 1
    assert source.parse(items[0].key, source.read(items[0].key)).patient_id == pid
    assert source.position() > stored


def test_read_by_vread_when_not_cached(medplum, auth: str, tmp_path: Path) -> None:
    pid = _new_pid()
    ref = _observation_ref(_destination(medplum, auth).deliver(_records(pid)[1].to_dict(), "v"))
    res = requests.get(f"{medplum.base_url}/{ref}", headers=medplum.headers, timeout=10).json()
    key = f"{ref}/_history/{res['meta']['versionId']}"
    source = FhirSource(
        "fhir-v",
        FhirSource.Settings(base_url=medplum.base_url, auth=auth, facility_code=FACILITY),
        ConnectorContext(data_dir=tmp_path),
    )
    parsed = source.parse(key, source.read(key))
    assert parsed.records[0].value == "7.2" and parsed.data_type == "FHIR-Observation"


def _timeline(medplum, auth: str) -> FhirCommunicationTimeline:
    settings = FhirCommunicationTimeline.Settings(base_url=medplum.base_url, auth=auth, facility_code=FACILITY)
    return FhirCommunicationTimeline("fhir-tl", settings)


def test_communication_posted_once_and_attachment_round_trips(medplum, auth: str) -> None:
    tl = _timeline(medplum, auth)
    pid = _new_pid()
    group = tl.ensure_group(pid, "在宅チーム")
    assert tl.ensure_group(pid) == group
    tl.invite(group, "nurse-1")
    tl.invite(group, "nurse-1")
    tl.invite(group, "dr-2")
    pdf = b"%PDF-1.4\n\x00\x01\xff binary \xe3\x81\x82"
    post = TimelinePost(
        patient_id=pid,
        text="訪問看護: 血圧 128/76、状態安定",
        tags=["visit", "vitals"],
        attachments=[Attachment("報告書.pdf", "application/pdf", pdf)],
        links=[{"title": "EHR", "url": "https://ehr.example.jp/p/1"}],
    )
    first = tl.post(group, post, "idem-1")
    assert tl.post(group, post, "idem-1") == first  # replay: If-None-Exist finds the first
    assert medplum.count("Communication", identifier="urn:renkei:idempotency-key|idem-1") == 1
    posts = tl.read(group, "nurse-1")
    assert len(posts) == 1
    got = posts[0]
    assert got["id"] == first and got["text"] == post.text and got["tags"] == ["visit", "vitals"]
    assert [Attachment.from_dict(a) for a in got["attachments"]] == post.attachments
    assert got["links"] == post.links
    with pytest.raises(NotFoundError):
        tl.read(group, "stranger")


def test_deliver_and_record_key_replacement(medplum, auth: str) -> None:
    tl = _timeline(medplum, auth)
    pid = _new_pid()
    v1 = TimelinePost(patient_id=pid, text="TP 7.2", record_key=f"{pid}/OML-11/1/TP")
    v2 = TimelinePost(patient_id=pid, text="TP 7.4 (訂正)", record_key=f"{pid}/OML-11/1/TP")
    tl.deliver(v1.to_dict(), "r1")
    tl.deliver(v2.to_dict(), "r2")
    group = tl.ensure_group(pid)
    assert [p["text"] for p in tl.read(group)] == ["TP 7.4 (訂正)"]
    gone = TimelinePost(patient_id=pid, text="", record_key=f"{pid}/OML-11/1/TP", retracts=True)
    tl.deliver(gone.to_dict(), "r3")
    assert tl.read(group) == []

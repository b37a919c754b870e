"""OUL^R22 SPM -> Specimen: fields and code systems, the references from the lab Observations and the
DiagnosticReport, nothing new when there is no SPM, base R4 checks (JP Core 1.1.2/1.2.0 have no Specimen
profile), and on Medplum: the transaction with Specimens is accepted and the Observation's reference resolves."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime

import pytest

from renkei.connectors.fhir import FhirDestination, JPCoreConverter
from renkei.connectors.fhir._rules import profile_problems
from renkei.connectors.fhir.bundle import transaction_bundle
from renkei.connectors.fhir.validate import check_resource, structure_problems
from renkei.connectors.hl7v2._values import JST
from renkei.records import Coding, Observation

FACILITY = "1311234567"
PID = "9999013"
SERUM = {"position": "1", "set_id": "1", "id": "S0001", "type_code": "023", "type_display": "血清",
         "type_system": "JC10", "collected": "2024-04-02T08:00:00+09:00",
         "received": "2024-04-02T09:30:00+09:00"}  # fmt: skip
URINE = {"position": "2", "set_id": "2", "id": "S0002", "type_code": "UR", "type_display": "Urine",
         "type_system": "HL70487", "collected": "2024-04-02T08:10:00+09:00"}  # fmt: skip


def _lab(code: str, name: str, value: str, specimen: dict[str, str], pid: str = PID) -> Observation:
    return Observation(
        patient_id=pid, record_key=f"{pid}/OML-11/L1/{code}", order_no="L1", code=Coding(code, name, "JC10"),
        value=value, unit="g/dL", effective=datetime(2024, 4, 2, 8, 0, tzinfo=JST), result_status="F",
        specimen=dict(specimen),
    )  # fmt: skip


def _labs(pid: str = PID) -> list[Observation]:
    return [
        _lab("3A010000002327101", "総蛋白", "7.1", SERUM, pid),
        _lab("3A015000002327101", "アルブミン", "4.2", SERUM, pid),
        _lab("1A020000000191111", "尿pH", "6.0", URINE, pid),
    ]


def _by_type(resources: list[dict], rtype: str) -> list[dict]:
    return [r for r in resources if r["resourceType"] == rtype]


@pytest.mark.parametrize("version", ["1.1.2", "1.2.0"])
def test_each_spm_becomes_one_base_r4_specimen(version: str) -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2", jp_core_version=version)
    resources, refused = conv.convert_partitioned(_labs())
    assert refused == []
    serum, urine = _by_type(resources, "Specimen")
    assert "meta" not in serum and "meta" not in urine  # no JP Core Specimen profile in 1.1.2/1.2.0
    assert serum["identifier"][1] == {"system": "urn:renkei:specimen-no", "value": "S0001"}
    assert serum["type"] == {
        "coding": [
            {"system": "http://jpfhir.jp/fhir/core/CodeSystem/JP_ObservationSampleMaterialCode_CS", "code": "023",
             "display": "血清"}
        ],
        "text": "血清",
    }  # fmt: skip
    assert urine["type"]["coding"] == [
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0487", "code": "UR", "display": "Urine"}
    ]
    assert serum["collection"] == {"collectedDateTime": "2024-04-02T08:00:00+09:00"}
    assert serum["receivedTime"] == "2024-04-02T09:30:00+09:00" and "receivedTime" not in urine
    assert serum["subject"] == conv.patient_reference(PID)
    order = {"system": "urn:renkei:order-no", "value": "L1"}
    assert serum["request"] == [{"type": "ServiceRequest", "identifier": order}]
    for spm in (serum, urine):  # base R4 (R4B structure), code shapes, and no JP Core rule applies
        assert structure_problems(spm) == [] and profile_problems(spm) == []
        check_resource(spm)


def test_observations_and_the_report_reference_their_specimens() -> None:
    resources, _ = JPCoreConverter(FACILITY, "ssmix2").convert_partitioned(_labs())
    serum, urine = _by_type(resources, "Specimen")
    obs = _by_type(resources, "Observation")
    assert [o["specimen"]["reference"] for o in obs] == [f"Specimen/{serum['id']}"] * 2 + [f"Specimen/{urine['id']}"]
    assert obs[0]["specimen"]["identifier"] == {"system": "urn:renkei:record-id", "value": serum["id"]}
    (report,) = _by_type(resources, "DiagnosticReport")
    assert [s["reference"] for s in report["specimen"]] == [f"Specimen/{serum['id']}", f"Specimen/{urine['id']}"]
    # in the transaction every specimen reference points into the bundle
    bundle = transaction_bundle(resources, f"urn:oid:1.2.392.100495.20.3.51.1{FACILITY}")
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    refs = [e["resource"]["specimen"] for e in bundle["entry"] if "specimen" in e["resource"]]
    flat = [r for ref in refs for r in (ref if isinstance(ref, list) else [ref])]
    assert len(flat) == 5 and all(r["reference"] in full_urls for r in flat)


def test_the_same_specimen_from_another_message_is_the_same_resource() -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2")
    first, _ = conv.convert_partitioned(_labs()[:1])
    again, _ = conv.convert_partitioned(_labs()[1:2])
    assert _by_type(first, "Specimen") == _by_type(again, "Specimen")
    other_patient, _ = conv.convert_partitioned(_labs("9999014")[:1])
    assert _by_type(other_patient, "Specimen")[0]["id"] != _by_type(first, "Specimen")[0]["id"]


def test_without_an_spm_nothing_new_is_emitted_and_the_rest_is_byte_equal() -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2")
    with_spm, _ = conv.convert_partitioned(_labs())
    without, refused = conv.convert_partitioned([dataclasses.replace(o, specimen={}) for o in _labs()])
    assert refused == [] and _by_type(without, "Specimen") == []
    assert all("specimen" not in r for r in without)
    stripped = [{k: v for k, v in r.items() if k != "specimen"} for r in with_spm if r["resourceType"] != "Specimen"]
    assert json.dumps(stripped, ensure_ascii=False) == json.dumps(without, ensure_ascii=False)


def test_a_specimen_without_spm2_is_told_apart_by_order_and_position() -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2")
    nameless = [
        _lab("3A010000002327101", "総蛋白", "7.1", {k: v for k, v in SERUM.items() if k != "id"}),
        _lab("1A020000000191111", "尿pH", "6.0", {k: v for k, v in URINE.items() if k != "id"}),
    ]
    resources, refused = conv.convert_partitioned(nameless)
    specimens = _by_type(resources, "Specimen")
    assert refused == [] and len(specimens) == 2
    assert all(len(s["identifier"]) == 1 for s in specimens)  # only the record-id: no SPM-2 to carry


def test_a_jp_clins_document_holds_no_reference_to_a_specimen_it_lacks() -> None:
    from support.clins_storage import storage_records

    from renkei.connectors.fhir.clins import Author, ClinsDocuments, DocumentRequest, bundle_problems

    records = storage_records()
    assert any(isinstance(r, Observation) and r.specimen for r in records)  # the storage's lab results have SPM
    docs = ClinsDocuments(JPCoreConverter(FACILITY, "ssmix2"), Author("静岡テスト病院", "医師 一郎", "D0001"))
    at = datetime(2024, 7, 1, 9, 30, tzinfo=JST)
    pid = records[0].patient_id
    req = DocumentRequest(
        kind="ereferral", patient_id=pid, issued_at=at, referral_to_organization="紹介先", purpose="精査"
    )
    bundle, _ = docs.build(req, records)
    observations = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert observations and all("specimen" not in o for o in observations)
    assert bundle_problems(bundle) == []


def test_a_specimen_with_an_unreadable_time_is_refused_and_the_results_still_go() -> None:
    broken = [_lab("3A010000002327101", "総蛋白", "7.1", {**SERUM, "collected": "2024-13-45"})]
    resources, refused = JPCoreConverter(FACILITY, "ssmix2").convert_partitioned(broken)
    assert [r["resourceType"] for r in resources] == ["Observation", "DiagnosticReport"]
    [(index, why)] = refused
    assert index == 0 and "SPM-17 collection time" in str(why) and "2024-13-45" not in str(why)


@pytest.mark.integration
def test_on_medplum_the_specimen_is_accepted_and_the_reference_resolves(medplum, monkeypatch) -> None:
    monkeypatch.setenv("RENKEI_TEST_MEDPLUM_TOKEN", medplum.token)
    pid = str(uuid.uuid4().int)[:10]
    settings = FhirDestination.Settings(
        base_url=medplum.base_url, auth="env:RENKEI_TEST_MEDPLUM_TOKEN", facility_code=FACILITY,
        source_system="ssmix2",
    )  # fmt: skip
    dest = FhirDestination("fhir", settings)
    payload = {"records": [r.to_dict() for r in _labs(pid)]}
    receipt = dest.deliver(payload, "specimens")
    assert dest.deliver(payload, "specimens") == receipt  # conditional updates: the same resources again
    refs = receipt.split()
    assert len([r for r in refs if r.startswith("Specimen/")]) == 2
    obs_ref = next(r for r in refs if r.startswith("Observation/"))
    obs = dest.client.read("Observation", obs_ref.split("/")[1])
    spm_ref = obs["specimen"]["reference"]
    assert spm_ref in refs  # the server's own id of the Specimen of this transaction
    spm = dest.client.read("Specimen", spm_ref.split("/")[1])
    assert spm["type"]["coding"][0]["code"] == "023" and spm["collection"]["collectedDateTime"].startswith("2024-04-02")
    assert spm["subject"]["reference"] == obs["subject"]["reference"] and spm_ref != obs_ref
    report_ref = next(r for r in refs if r.startswith("DiagnosticReport/"))
    report = dest.client.read("DiagnosticReport", report_ref.split("/")[1])
    assert sorted(s["reference"] for s in report["specimen"]) == sorted(r for r in refs if r.startswith("Specimen/"))
    dest.close()

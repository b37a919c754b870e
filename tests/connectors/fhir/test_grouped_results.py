"""Results grouped per JP Core: a DiagnosticReport (JP_DiagnosticReport_LabResult) per lab order, the ECG as one
JP_Observation_Electrocardiogram (JP Core 1.2), performed radiology/endoscopy (OMG-11/12) as JP_Procedure; each
checked against the rule table on the NHO sample storage and on a generated storage with every data type, and
the new rule kinds (fixed codings, required bindings, invariants) catch broken output."""

from __future__ import annotations

import copy
import os
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from renkei.connectors.fhir import FhirDestination, JPCoreConverter
from renkei.connectors.fhir._rules import profile_problems
from renkei.connectors.ssmix2 import SSMIX2Error, parse_file
from renkei.connectors.ssmix2.generator import generate_full
from renkei.records import Allergy, Coding, Observation, RecordStatus

FACILITY = "1311234567"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
NHO = Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "ssmix2-nho" / "storage"


def _name(res: dict) -> str:
    if "meta" not in res:  # base R4: JP Core 1.1.2/1.2.0 have no Specimen profile
        assert res["resourceType"] == "Specimen"
        return "Specimen"
    return res["meta"]["profile"][0].rsplit("/", 1)[-1].split("|")[0]


def _convert_storage(version: str, files) -> tuple[Counter, list[list[dict]]]:
    conv = JPCoreConverter(FACILITY, "ssmix2", jp_core_version=version)
    emitted: Counter[str] = Counter()
    per_file = []
    for records in files:
        resources, _ = conv.convert_partitioned([r for r in records if r.kind.value != "note"])
        for res in resources:
            assert profile_problems(res) == [], (_name(res), profile_problems(res))
            emitted[_name(res)] += 1
        per_file.append(resources)
    return emitted, per_file


@pytest.fixture(scope="module")
def full_storage(tmp_path_factory) -> list:
    root = tmp_path_factory.mktemp("full")
    return [w.records for w in generate_full(root, patients=3, seed=11, conditions=True, extended=True)]


def _rekeyed(key: str, raw: bytes) -> str:
    """The storage path the file would have under its own PID-3 (the sample files its OML-11, OMG-11/12/13
    under another patient's folder on purpose, to test the reader's patient check)."""
    pid = next(seg for seg in raw.decode("iso2022_jp").split("\r") if seg.startswith("PID|")).split("|")[3]
    pid = pid.split("^")[0]
    folder_pid = key.split("/")[2]
    parts = key.split("/")
    parts[:3] = [pid[:3], pid[3:6], pid]
    return "/".join(parts).replace(f"/{folder_pid}_", f"/{pid}_")


def _nho_files() -> list:
    out = []
    for path in sorted(p for p in NHO.rglob("*") if p.is_file()):
        key, raw = str(path.relative_to(NHO)), path.read_bytes()
        try:
            out.append(parse_file(key, raw).records)
        except SSMIX2Error as exc:
            if "patient_mismatch" not in str(exc):
                continue  # the sample's other deliberately broken files
            try:
                out.append(parse_file(_rekeyed(key, raw), raw).records)
            except SSMIX2Error:
                continue
    return out


@pytest.mark.parametrize("version", ["1.1.2", "1.2.0"])
def test_nho_storage_gives_reports_ecg_and_procedures_that_keep_the_rules(version: str) -> None:
    emitted, per_file = _convert_storage(version, _nho_files())
    assert emitted["JP_DiagnosticReport_LabResult"] >= 1  # the OML-11 results of one order
    # OMG-13's twelve ECG results: one JP_Observation_Electrocardiogram in 1.2, Common observations in 1.1.x
    assert emitted["JP_Observation_Electrocardiogram"] == (1 if version == "1.2.0" else 0)
    assert emitted["JP_Procedure"] >= 2  # OMG-11 radiology and OMG-12 endoscopy, as performed
    for resources in per_file:
        labs = {r["id"] for r in resources if _name(r) == "JP_Observation_LabResult"}
        for report in (r for r in resources if r["resourceType"] == "DiagnosticReport"):
            assert {ref["reference"].split("/")[1] for ref in report["result"]} <= labs
            assert report["category"] == [{"coding": [{"system": V2_0074, "code": "LAB"}]}]
    procedures = [r for rs in per_file for r in rs if r["resourceType"] == "Procedure"]
    assert {p["status"] for p in procedures} == {"completed"}
    assert any("performedDateTime" in p for p in procedures)


def test_every_data_type_under_1_2_gives_ecg_reports_and_procedures(full_storage) -> None:
    emitted, per_file = _convert_storage("1.2.0", full_storage)
    for resources in per_file:  # each report lists the lab results of its file, nothing else
        labs = {r["id"] for r in resources if _name(r) == "JP_Observation_LabResult"}
        for report in (r for r in resources if r["resourceType"] == "DiagnosticReport"):
            assert {ref["reference"].split("/")[1] for ref in report["result"]} <= labs and report["result"]
    assert emitted["JP_Observation_Electrocardiogram"] >= 1
    assert emitted["JP_DiagnosticReport_LabResult"] >= 1 and emitted["JP_Procedure"] >= 1
    ecg = next(r for rs in per_file for r in rs if _name(r) == "JP_Observation_Electrocardiogram")
    assert ecg["code"] == {"coding": [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG Study"}]}
    heart_rate = next(c for c in ecg["component"] if c["code"]["coding"][0]["code"] == "32769")
    assert heart_rate["valueQuantity"]["code"] == "/min"
    qrs = next(c for c in ecg["component"] if c["code"]["coding"][0]["code"] == "58240")
    assert qrs["valueQuantity"]["unit"] == "msec" and qrs["valueQuantity"]["code"] == "ms"
    # the measurements live in the ECG only: no loose MFER observation beside it
    loose = [r for rs in per_file for r in rs if r["resourceType"] == "Observation" and r is not ecg
             and "99MFR" in str(r.get("code"))]  # fmt: skip
    assert loose == []


def test_under_1_1_2_an_ecg_stays_common_observations(full_storage) -> None:
    emitted, _ = _convert_storage("1.1.2", full_storage)
    assert emitted["JP_Observation_Electrocardiogram"] == 0
    assert emitted["JP_Observation_Common"] >= 4


def _ecg_records(pid: str, order_no: str) -> list[Observation]:
    when = datetime(2024, 5, 1, 9, 30)
    return [
        Observation(patient_id=pid, record_key=f"{pid}/OMG-13/{order_no}/imp", order_no=order_no, effective=when,
                    code=Coding("9A100&IMP", "心電図所見", "JC10"), value="洞調律", value_type="TX", result_status="F"),
        Observation(patient_id=pid, record_key=f"{pid}/OMG-13/{order_no}/hr", order_no=order_no, effective=when,
                    code=Coding("32769", "心拍数", "99MFR"), value="67", unit="bpm", result_status="F"),
    ]  # fmt: skip


def test_the_rule_table_catches_broken_groups() -> None:
    conv = JPCoreConverter(FACILITY, "ssmix2", jp_core_version="1.2.0")
    resources, _ = conv.convert_partitioned(_ecg_records("9999013", "O1"))
    [ecg] = resources
    assert ecg["note"] == [{"text": "心電図所見: 洞調律"}]
    broken = copy.deepcopy(ecg)
    broken["code"]["coding"].append({"system": "http://jpfhir.jp/fhir/core/CodeSystem/JLAC10", "code": "9A110"})
    broken["category"][0]["coding"][0]["display"] = "procedure"
    assert sorted(p[0] for p in profile_problems(broken)) == ["Observation.category", "Observation.code"]
    both = copy.deepcopy(ecg)
    both["valueString"], both["dataAbsentReason"] = "x", {"text": "error"}
    assert [p[0] for p in profile_problems(both)] == ["Observation"]  # obs-6
    allergy = conv.convert(
        Allergy(patient_id="9999013", record_key="a", category=Coding("FA", "", "HL70127"),
                allergen=Coding("106824501", "", "HOT9"), status=RecordStatus.DELETED)
    )  # fmt: skip
    assert profile_problems(allergy) == []
    allergy["clinicalStatus"] = {"coding": [{"system": ALLERGY_CLINICAL, "code": "gone"}]}
    allergy["category"] = ["pollen"]
    assert sorted(p[1].split(" (")[0] for p in profile_problems(allergy)) == [
        "code not in the required value set",
        "must be absent when verificationStatus is entered-in-error",
        "not in the required value set",
    ]


@pytest.mark.integration
def test_on_medplum_a_lab_order_goes_with_its_report_and_an_ecg_as_one_observation(medplum, monkeypatch) -> None:
    monkeypatch.setenv("RENKEI_TEST_MEDPLUM_TOKEN", medplum.token)
    pid = str(uuid.uuid4().int)[:10]
    settings = FhirDestination.Settings(
        base_url=medplum.base_url, auth="env:RENKEI_TEST_MEDPLUM_TOKEN", facility_code=FACILITY,
        source_system="ssmix2", jp_core_version="1.2.0",
    )  # fmt: skip
    dest = FhirDestination("fhir", settings)
    labs = [
        Observation(patient_id=pid, record_key=f"{pid}/OML-11/L1/{code}", order_no="L1",
                    code=Coding(code, name, "JC10"), value=value, unit="g/dl", effective=datetime(2024, 5, 1, 8, 0),
                    result_status="F")
        for code, name, value in (("3A010000002327101", "総蛋白", "7.2"), ("3A015000002327101", "アルブミン", "4.1"))
    ]  # fmt: skip
    receipt = dest.deliver({"records": [r.to_dict() for r in labs]}, "labs")
    report_ref = next(x for x in receipt.split() if x.startswith("DiagnosticReport/"))
    report = dest.client.read("DiagnosticReport", report_ref.split("/")[1])
    result_refs = sorted(r["reference"] for r in report["result"])
    assert result_refs == sorted(x for x in receipt.split() if x.startswith("Observation/"))
    ecg_receipt = dest.deliver({"records": [r.to_dict() for r in _ecg_records(pid, "E1")]}, "ecg")
    [ecg_ref] = [x for x in ecg_receipt.split() if x.startswith("Observation/")]
    ecg = dest.client.read("Observation", ecg_ref.split("/")[1])
    assert ecg["code"]["coding"][0]["code"] == "11524-6" and ecg["component"][0]["valueQuantity"]["value"] == 67
    assert os.environ["RENKEI_TEST_MEDPLUM_TOKEN"]
    dest.close()

"""Transaction bundles: conditional updates keyed on the deterministic id, local references, patient stubs."""

from __future__ import annotations

from datetime import datetime

from renkei.connectors.fhir import JPCoreConverter, transaction_bundle
from renkei.connectors.fhir import _systems as S
from renkei.records import Coding, Observation, Patient

FACILITY = "1311234567"


def _obs(pid: str) -> Observation:
    return Observation(
        patient_id=pid,
        record_key=f"{pid}/OML-11/1/3A010000002327101",
        code=Coding("3A010000002327101", "総蛋白", "JC10"),
        value="7.2",
        unit="g/dl",
        effective=datetime(2011, 12, 19, 15, 0),
        result_status="F",
    )


def test_entries_are_conditional_updates_without_ids() -> None:
    conv = JPCoreConverter(FACILITY)
    pat = conv.convert(Patient(patient_id="9999013", name_kanji="患者 太郎"))
    obs = conv.convert(_obs("9999013"))
    bundle = transaction_bundle([pat, obs], conv.facility_system, conv.patient_stub)
    assert bundle["type"] == "transaction"
    p_entry, o_entry = bundle["entry"]
    assert p_entry["request"] == {"method": "PUT", "url": f"Patient?identifier={conv.facility_system}|9999013"}
    assert o_entry["request"] == {"method": "PUT", "url": f"Observation?identifier={S.RECORD_ID}|{obs['id']}"}
    assert "id" not in p_entry["resource"] and "id" not in o_entry["resource"]
    assert p_entry["fullUrl"] == f"urn:uuid:{pat['id']}"
    assert o_entry["resource"]["subject"]["reference"] == f"urn:uuid:{pat['id']}"
    # the converted resources themselves are untouched
    assert obs["subject"]["reference"] == f"Patient/{pat['id']}"


def test_missing_patient_gets_a_conditional_create_stub() -> None:
    conv = JPCoreConverter(FACILITY)
    obs = conv.convert(_obs("555"))
    bundle = transaction_bundle([obs], conv.facility_system, conv.patient_stub)
    stub, entry = bundle["entry"]
    assert stub["request"] == {
        "method": "POST",
        "url": "Patient",
        "ifNoneExist": f"identifier={conv.facility_system}|555",
    }
    assert stub["resource"]["identifier"] == [{"system": conv.facility_system, "value": "555"}]
    assert entry["resource"]["subject"]["reference"] == stub["fullUrl"]


def test_identifier_values_are_url_encoded() -> None:
    conv = JPCoreConverter(FACILITY)
    pat = conv.convert(Patient(patient_id="A&B 1"))
    url = transaction_bundle([pat], conv.facility_system)["entry"][0]["request"]["url"]
    assert url.endswith("|A%26B%201")

"""FhirClient against mocked HTTP (responses): error mapping, secrets, paging, no patient data in errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import responses

from renkei.connectors.fhir import FhirClient, FhirPermanentError, FhirRetryableError, resolve_secret
from renkei.connectors.fhir.client import outcome_summary, scrub
from renkei.errors import ConfigError, PermanentDeliveryError, RetryableDeliveryError

BASE = "https://fhir.example.jp/fhir/R4"


def outcome(diagnostics: str, code: str = "invalid", expression: str = "") -> dict:
    issue = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def test_secret_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENKEI_TEST_FHIR_TOKEN", "abc123\n")
    assert resolve_secret("env:RENKEI_TEST_FHIR_TOKEN") == "abc123"
    (tmp_path / "token").write_text("from-file\n")
    assert resolve_secret(f"file:{tmp_path / 'token'}") == "from-file"
    monkeypatch.delenv("RENKEI_TEST_FHIR_TOKEN")
    with pytest.raises(ConfigError, match="RENKEI_TEST_FHIR_TOKEN is not set"):
        resolve_secret("env:RENKEI_TEST_FHIR_TOKEN")
    with pytest.raises(ConfigError, match="secret reference"):
        resolve_secret("abc123")  # a literal token in the config is refused


@responses.activate
def test_bearer_header_from_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENKEI_TEST_FHIR_TOKEN", "s3cret")
    responses.get(f"{BASE}/Patient/1", json={"resourceType": "Patient", "id": "1"})
    FhirClient(BASE, auth="env:RENKEI_TEST_FHIR_TOKEN").read("Patient", "1")
    assert responses.calls[0].request.headers["Authorization"] == "Bearer s3cret"
    assert responses.calls[0].request.headers["Accept"] == "application/fhir+json"


@responses.activate
@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_server_errors_are_retryable(status: int) -> None:
    responses.post(BASE, json=outcome("database busy", code="transient"), status=status)
    with pytest.raises(
        FhirRetryableError, match=f"POST /fhir/R4: HTTP {status}: error/transient: database busy"
    ) as info:
        FhirClient(BASE).transaction({"resourceType": "Bundle", "type": "transaction", "entry": []})
    assert isinstance(info.value, RetryableDeliveryError)
    assert info.value.status == status


@responses.activate
def test_timeouts_and_connection_failures_are_retryable() -> None:
    responses.get(f"{BASE}/Patient/1", body=requests.Timeout())
    with pytest.raises(FhirRetryableError, match="timed out"):
        FhirClient(BASE, timeout=3).read("Patient", "1")
    responses.get(f"{BASE}/Patient/2", body=requests.ConnectionError())
    with pytest.raises(FhirRetryableError, match="cannot connect"):
        FhirClient(BASE).read("Patient", "2")


@responses.activate
def test_client_errors_are_permanent_without_patient_data() -> None:
    diag = 'Invalid value "患者 太郎" for Patient.name born 19480405'
    responses.put(f"{BASE}/Patient", json=outcome(diag, expression="Patient.name[0]"), status=422)
    client = FhirClient(BASE)
    with pytest.raises(FhirPermanentError) as info:
        client.conditional_update({"resourceType": "Patient"}, {"identifier": "urn:oid:x|9999013"})
    message = str(info.value)
    assert isinstance(info.value, PermanentDeliveryError)
    assert "HTTP 422" in message and "Patient.name[0]" in message and "Invalid value" in message
    for leaked in ("患者", "太郎", "19480405", "9999013"):
        assert leaked not in message


def test_scrub_and_summary() -> None:
    assert scrub("bad 'ヤマダ' at 0312345678") == 'bad "…" at #'
    assert outcome_summary({"not": "an outcome"}) == "no OperationOutcome"


@responses.activate
def test_search_follows_next_links() -> None:
    page1 = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Observation", "id": "a"}, "search": {"mode": "match"}}],
        "link": [{"relation": "next", "url": f"{BASE}/Observation?_offset=1&_count=1"}],
    }
    page2 = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": {"resourceType": "Observation", "id": "b"}, "search": {"mode": "match"}},
            {"resource": {"resourceType": "Patient", "id": "p"}, "search": {"mode": "include"}},
        ],
    }
    responses.get(
        f"{BASE}/Observation",
        json=page2,
        match=[responses.matchers.query_param_matcher({"_offset": "1", "_count": "1"})],
    )
    responses.get(f"{BASE}/Observation", json=page1, match=[responses.matchers.query_param_matcher({"_count": "1"})])
    ids = [r["id"] for r in FhirClient(BASE).search("Observation", {"_count": 1})]
    assert ids == ["a", "b"]


@responses.activate
def test_next_link_to_another_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENKEI_TEST_FHIR_TOKEN", "s3cret")
    page = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "next", "url": "https://evil.example/fhir/Observation?page=2"}],
    }
    responses.get(f"{BASE}/Observation", json=page)
    with pytest.raises(FhirPermanentError, match="another server"):
        list(FhirClient(BASE, auth="env:RENKEI_TEST_FHIR_TOKEN").search("Observation", {}))
    assert len(responses.calls) == 1


@responses.activate
def test_conditional_create_sends_if_none_exist() -> None:
    responses.post(f"{BASE}/Communication", json={"resourceType": "Communication", "id": "c1"}, status=200)
    status, res = FhirClient(BASE).create({"resourceType": "Communication"}, if_none_exist="identifier=urn:x|k1")
    assert (status, res["id"]) == (200, "c1")
    sent = responses.calls[0].request
    assert sent.headers["If-None-Exist"] == "identifier=urn:x|k1"
    assert json.loads(sent.body) == {"resourceType": "Communication"}

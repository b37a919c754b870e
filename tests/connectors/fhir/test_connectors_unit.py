"""The FHIR connectors without a server: exported names, payload errors, source position bookkeeping."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses

import renkei.connectors.fhir as fhir
from renkei.connectors.base import ConnectorContext, Destination, Source, Timeline
from renkei.connectors.fhir import FhirCommunicationTimeline, FhirDestination, FhirParseError, FhirSource
from renkei.connectors.registry import connector_class
from renkei.errors import PermanentDeliveryError
from renkei.records import Coding, Note, Observation

BASE = "https://fhir.example.jp/fhir/R4"


def test_exported_names_are_pinned() -> None:
    assert fhir.__all__ == sorted(fhir.__all__)
    assert set(fhir.__all__) == {
        "FhirClient", "FhirCommunicationTimeline", "FhirDestination", "FhirParseError", "FhirPermanentError",
        "FhirRetryableError", "FhirSource", "FhirToCanonical", "FhirValidationError", "JPCoreConverter",
        "UnsupportedRecord", "check_resource", "locations", "resolve_secret", "transaction_bundle",
    }  # fmt: skip


def test_registered_connectors_fulfil_their_contracts(tmp_path: Path) -> None:
    assert connector_class("fhir") is FhirDestination
    assert connector_class("fhir-source") is FhirSource
    assert connector_class("fhir-communication") is FhirCommunicationTimeline
    ctx = ConnectorContext(data_dir=tmp_path)
    dest = FhirDestination("d", FhirDestination.Settings(base_url=BASE, facility_code="1311234567"), ctx)
    src = FhirSource("s", FhirSource.Settings(base_url=BASE), ctx)
    tl = FhirCommunicationTimeline("t", FhirCommunicationTimeline.Settings(base_url=BASE, facility_code="1311234567"))
    assert isinstance(dest, Destination) and isinstance(src, Source) and isinstance(tl, Timeline)
    for c in (dest, src, tl):
        c.close()


def test_unusable_payloads_are_permanent_failures(tmp_path: Path) -> None:
    dest = FhirDestination("d", FhirDestination.Settings(base_url=BASE, facility_code="1311234567"))
    with pytest.raises(PermanentDeliveryError, match="not canonical records"):
        dest.deliver({**Note(patient_id="1", text="デイサービス開始").to_dict(), "status": "bogus"}, "k")
    with pytest.raises(PermanentDeliveryError, match="neither records"):
        dest.deliver({"hello": 1}, "k")
    bad = Observation(patient_id="1", record_key="r", code=Coding("3A01000000232710", "総蛋白", "JC10"), value="7")
    with pytest.raises(PermanentDeliveryError, match="JLAC10 needs 17"):
        dest.deliver(bad.to_dict(), "k")
    dest.close()


def _page(ids: list[str], last: str, nxt: str | None = None) -> dict:
    entries = [
        {"resource": {"resourceType": "Observation", "id": i, "meta": {"versionId": "v1", "lastUpdated": last}}}
        for i in ids
    ]
    page: dict = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    if nxt:
        page["link"] = [{"relation": "next", "url": nxt}]
    return page


@responses.activate
def test_position_is_stored_only_after_a_complete_scan(tmp_path: Path) -> None:
    responses.get(f"{BASE}/Observation", json=_page(["b"], "2024-05-02T00:00:00Z"),
                  match=[responses.matchers.query_param_matcher({"page": "2"})])  # fmt: skip
    responses.get(f"{BASE}/Observation", json=_page(["a"], "2024-05-01T00:00:00Z", f"{BASE}/Observation?page=2"))
    src = FhirSource("s", FhirSource.Settings(base_url=BASE, resource_types=["Observation"]),
                     ConnectorContext(data_dir=tmp_path))  # fmt: skip
    scan = src.scan()
    assert next(scan).key == "Observation/a/_history/v1"
    scan.close()  # interrupted: the engine stopped before storing everything
    assert src.position() == ""
    keys = [item.key for item in src.scan()]
    assert keys == ["Observation/a/_history/v1", "Observation/b/_history/v1"]
    assert src.position() == "2024-05-02T00:00:00Z"
    src.close()


@responses.activate
def test_next_scan_asks_for_changes_since_position_minus_overlap(tmp_path: Path) -> None:
    state = tmp_path / "fhir-source" / "s.json"
    state.parent.mkdir()
    state.write_text('{"last_updated": "2024-05-02T00:10:00Z"}')
    responses.get(f"{BASE}/Observation", json=_page([], ""))
    src = FhirSource("s", FhirSource.Settings(base_url=BASE, resource_types=["Observation"], overlap_seconds=600),
                     ConnectorContext(data_dir=tmp_path))  # fmt: skip
    assert list(src.scan()) == []
    assert responses.calls[0].request.params["_lastUpdated"] == "gt2024-05-02T00:00:00Z"
    assert responses.calls[0].request.params["_sort"] == "_lastUpdated"
    src.close()


def test_parse_rejects_bad_input_with_reason(tmp_path: Path) -> None:
    src = FhirSource("s", FhirSource.Settings(base_url=BASE), ConnectorContext(data_dir=tmp_path))
    with pytest.raises(FhirParseError, match=r"Observation/x/_history/1: not JSON \(JSONDecodeError at byte 1\)"):
        src.parse("Observation/x/_history/1", b"{oops")
    with pytest.raises(FhirParseError, match="no canonical mapping for resourceType 'Binary'"):
        src.parse("Binary/x/_history/1", b'{"resourceType": "Binary", "id": "x"}')
    no_patient = b'{"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"}}'
    with pytest.raises(FhirParseError, match=r"Observation/o\.subject: no patient identifier"):
        src.parse("Observation/o/_history/1", no_patient)
    src.close()

"""DocumentReference with the file itself, accepted by a real validating FHIR R4 server (Medplum) and read
back byte-equal."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime

import pytest
from support.documents import binary_pdf

from renkei.connectors.fhir import FhirDestination
from renkei.records import Coding, Document, Patient

pytestmark = pytest.mark.integration

FACILITY = "1311234567"
TOKEN_ENV = "RENKEI_TEST_MEDPLUM_DOCS_TOKEN"


def test_a_pdf_document_reference_round_trips_through_medplum(medplum, monkeypatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, medplum.token)
    dest = FhirDestination("fhir", FhirDestination.Settings(
        base_url=medplum.base_url, auth=f"env:{TOKEN_ENV}", facility_code=FACILITY, source_system="ssmix2",
    ))  # fmt: skip
    pid = str(uuid.uuid4().int)[:10]
    pdf = binary_pdf()
    doc = Document(
        patient_id=pid, record_key=f"{pid}/EXT/@20240105/document/57133-1", title="診療情報提供書",
        code=Coding("57133-1", "診療情報提供書", "LN"), media_type="application/pdf", content="raw",
        size=len(pdf), sha256=hashlib.sha256(pdf).hexdigest(), authored_at=datetime(2024, 1, 5, 10, 30),
        data=base64.b64encode(pdf).decode(),
    )  # fmt: skip
    payload = {"records": [Patient(patient_id=pid, record_key=f"{pid}/ADT-00/@-/patient").to_dict(), doc.to_dict()]}
    receipt = dest.deliver(payload, f"doc-{pid}")
    ref = next(r for r in receipt.split() if r.startswith("DocumentReference/"))
    stored = dest.client.read("DocumentReference", ref.split("/", 1)[1])
    att = stored["content"][0]["attachment"]
    assert base64.b64decode(att["data"]) == pdf
    assert (att["contentType"], att["size"], att["title"]) == ("application/pdf", len(pdf), "診療情報提供書")
    assert att["hash"] == base64.b64encode(hashlib.sha1(pdf).digest()).decode()
    dest.close()

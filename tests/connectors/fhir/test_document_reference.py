"""DocumentReference carries the document itself: data (base64) or url, contentType by content, size,
SHA-1 hash (base64, as FHIR R4 Attachment.hash defines it), title, creation; a CDA is the CDA XML."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

from support.documents import binary_pdf

from renkei.connectors.fhir.jpcore import JPCoreConverter
from renkei.connectors.fhir.validate import check_resource
from renkei.records import Coding, Document

FACILITY = "1311234567"
CDA = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3">'
    "<title>退院時サマリー</title></ClinicalDocument>\n"
).encode()
WHEN = datetime.fromisoformat("2024-01-05T10:30:00+09:00")


def _doc(data: bytes = b"", **kw) -> Document:
    base = dict(
        patient_id="9999013", record_key="9999013/EXT/@20240105/document/57133-1", title="診療情報提供書",
        code=Coding("57133-1", "診療情報提供書", "LN"), media_type="application/pdf", authored_at=WHEN,
        content="raw", size=len(data), sha256=hashlib.sha256(data).hexdigest(), author="田中 一郎",
        data=base64.b64encode(data).decode() if data else "",
    )  # fmt: skip
    return Document(**{**base, **kw})


def _attachment(doc: Document) -> dict:
    res = JPCoreConverter(FACILITY, "ssmix2").convert(doc)
    check_resource(res)
    (content,) = res["content"]
    return content["attachment"]


def test_a_pdf_goes_with_its_bytes_size_and_sha1() -> None:
    pdf = binary_pdf()
    att = _attachment(_doc(pdf))
    assert base64.b64decode(att["data"]) == pdf
    assert att["contentType"] == "application/pdf" and att["size"] == len(pdf)
    assert att["hash"] == base64.b64encode(hashlib.sha1(pdf).digest()).decode()
    assert att["title"] == "診療情報提供書" and att["creation"] == "2024-01-05T10:30:00+09:00"


def test_a_cda_labelled_as_cda_carries_the_cda_not_its_text() -> None:
    att = _attachment(_doc(CDA, media_type="application/hl7-cda+xml", text="退院時サマリー"))
    assert att["contentType"] == "application/hl7-cda+xml"
    assert base64.b64decode(att["data"]) == CDA


def test_a_reference_pointer_goes_as_url_and_no_file_falls_back_to_labelled_text() -> None:
    att = _attachment(_doc(content="", url="https://pacs.example.jp/wado?study=1", media_type="image/jpeg", size=0))
    assert att["url"] == "https://pacs.example.jp/wado?study=1" and att["contentType"] == "image/jpeg"
    assert "data" not in att
    att = _attachment(_doc(media_type="application/hl7-cda+xml", text="経過良好"))
    assert att["contentType"] == "text/plain; charset=utf-8" and base64.b64decode(att["data"]).decode() == "経過良好"

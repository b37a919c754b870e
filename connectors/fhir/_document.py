"""DocumentReference (JP Core has no DocumentReference profile of its own; base R4): the document itself.

`content.attachment` carries the file the source sent: `contentType` (what the bytes are, told by content
when renkei read them), `data` (base64 of the file, as the engine puts it in just before delivery: a CDA
labelled application/hl7-cda+xml is the CDA XML itself, never text extracted from it), or `url` (an HL7 v2
RP reference pointer), with `size`, `hash` (base64 of the SHA-1 of the data, as FHIR R4 Attachment.hash
defines it), `title` and `creation`.

Without the file (a conversion outside delivery, e.g. a mapping test or a bench run, or a record whose raw
input retention has dropped) the text renkei read from it is sent instead, labelled as the plain text it
is, never as the CDA/PDF it came from.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import TYPE_CHECKING, Any

from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._time import to_fhir_datetime
from renkei.errors import InputError
from renkei.records import Document, RecordStatus

if TYPE_CHECKING:
    from renkei.connectors.fhir.jpcore import JPCoreConverter

TEXT = "text/plain; charset=utf-8"


def document_reference(conv: JPCoreConverter, d: Document) -> dict[str, Any]:
    res = conv._base("DocumentReference", d, S.PROFILE["DocumentReference"])
    res["status"] = "entered-in-error" if d.status == RecordStatus.DELETED else "current"
    if d.code:
        res["type"] = conv.concept(d.code)
    res["subject"] = conv.patient_reference(d.patient_id)
    if d.authored_at:
        res["date"] = to_fhir_datetime(d.authored_at)
    if d.author:
        res["author"] = [{"display": d.author}]
    res["description"] = d.title
    res["content"] = [{"attachment": attachment(d)}]
    return res


def attachment(d: Document) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if d.data:
        try:
            data = base64.b64decode(d.data, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("DocumentReference.content.attachment.data: the file is not valid base64") from None
        out["contentType"] = d.media_type or "application/octet-stream"
        out["data"] = d.data
        out["size"] = len(data)
        out["hash"] = base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode("ascii")
    elif d.url:
        out["contentType"] = d.media_type or "application/octet-stream"
        out["url"] = d.url
        if d.size:
            out["size"] = d.size
    elif d.text:
        out["contentType"] = d.media_type if d.media_type.startswith("text/") else TEXT
        raw = d.text.encode("utf-8")
        out["data"] = base64.b64encode(raw).decode("ascii")
        out["size"] = len(raw)
    elif d.media_type:
        out["contentType"] = d.media_type
    out["title"] = d.title
    if d.authored_at:
        out["creation"] = to_fhir_datetime(d.authored_at)
    return out

"""Deterministic FHIR resource ids, so converting the same record twice yields the same JSON.

    id = uuid5(RENKEI_NS, "<facility>|<source system>|<resourceType>|<record key>")

Patients are the exception: one person at one facility is one Patient whatever source mentioned them, so
their key leaves out the source system: uuid5(RENKEI_NS, "<facility>||Patient|<patient id>").
A record without a record_key is keyed by a SHA-256 of its canonical content (minus where it was read
from), so identical content still maps to one resource.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from renkei.records import Record

# Fixed forever: changing it would give every resource ever written a new id.
RENKEI_NS = uuid.UUID("6f1b8e4c-3d0a-5c55-9a51-52656e6b6569")


def resource_id(facility: str, source_system: str, resource_type: str, key: str) -> str:
    return str(uuid.uuid5(RENKEI_NS, f"{facility}|{source_system}|{resource_type}|{key}"))


def patient_id(facility: str, patient: str) -> str:
    return resource_id(facility, "", "Patient", patient)


def record_key(record: Record) -> str:
    """record.record_key, or a content hash when the source gave none."""
    if record.record_key:
        return record.record_key
    content = record.to_dict()
    for volatile in ("source", "warnings"):
        content.pop(volatile, None)
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return "sha256:" + digest


def canonical_json(resource: dict) -> str:
    """Byte-stable JSON of a resource (sorted keys, UTF-8 kept), for comparing and hashing."""
    return json.dumps(resource, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

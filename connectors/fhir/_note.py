"""A canonical Note (a reply or nurse report from a patient's timeline: the way back) as a FHIR Communication.

JP Core defines no Communication profile, so the resource is base R4 Communication: status completed,
subject the Patient (found by the facility identifier, as every JP Core resource of the converter refers to
it), `sent` when it was written, `sender` the author's staff id (identifier urn:renkei:member, never a
name), category `notification` plus one text category per tag, the text in payload.contentString. Its id
and the urn:renkei:record-id identifier come from the record key (the timeline event), so a second
delivery of the same reply updates the same Communication and creates none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._ids import record_key, resource_id
from renkei.connectors.fhir._time import to_fhir_datetime
from renkei.records import Note, RecordStatus

if TYPE_CHECKING:
    from renkei.connectors.fhir.jpcore import JPCoreConverter

MEMBER = "urn:renkei:member"  # the same system the fhir-communication timeline names its members with
CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"


def note_communication(conv: JPCoreConverter, note: Note) -> dict[str, Any]:
    rid = resource_id(conv.facility_code, conv.source_system, "Communication", record_key(note))
    identifiers = [{"system": S.RECORD_ID, "value": rid}]
    if note.record_key:
        identifiers.append({"system": S.RECORD_KEY, "value": note.record_key})
    res: dict[str, Any] = {
        "resourceType": "Communication",
        "id": rid,
        "identifier": identifiers,
        "status": "entered-in-error" if note.status == RecordStatus.DELETED else "completed",
        "category": [
            {"coding": [{"system": CATEGORY, "code": "notification"}]},
            *({"text": tag} for tag in note.tags),
        ],
        "subject": conv.patient_reference(note.patient_id),
        "payload": [{"contentString": note.text}],
    }
    if note.written_at is not None:
        res["sent"] = to_fhir_datetime(note.written_at)
    if note.author:
        res["sender"] = {"identifier": {"system": MEMBER, "value": note.author}}
    return res

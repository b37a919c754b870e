"""Canonical records to an outbound HL7 v2.5 message: ORU^R01 for observations, MDM^T02 for notes.

    text = encode_records(records, MessageHeader(sending_application="RENKEI", charset="UNICODE UTF-8"))

The way back (docs/way-back.md): what nurses report on a patient's timeline goes to the EHR as
- vital signs -> ORU^R01 (ORU_R01 structure: MSH PID OBR OBX…), one OBX per reading, OBX-3 the IEEE 11073
  MDC code as IHE PCD-01 and Continua send device readings (`150364^MDC_TEMP_BODY^MDC`), OBX-6 the unit
  (UCUM when known), OBX-14 the time it was measured, OBX-16 who reported it (a staff id, never a name);
- a reply or note -> MDM^T02 (original document notification and content: MSH EVN PID PV1 TXA OBX),
  TXA-2 `PR` (progress note, HL7 table 0270), the text in TX OBX segments, one per line.

MSH-10 is left empty: the MLLP sender fills it from the delivery's idempotency key, so a resend after a
restart carries the same control id. MSH-18 is the destination's setting; the sender encodes the text by
it (UTF-8 or ISO-2022-JP). Every text value is escaped (\\F\\ \\S\\ \\R\\ \\E\\ \\T\\), so a `|` typed in
a reply cannot break the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from renkei.errors import InputError
from renkei.records import Note, Observation, Record

from ._values import JST

ENC = "^~\\&"


@dataclass(slots=True, frozen=True)
class MessageHeader:
    """What a destination puts in every MSH it sends."""

    sending_application: str = "RENKEI"
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    charset: str = "UNICODE UTF-8"  # MSH-18: "UNICODE UTF-8" or "~ISO IR87" (ISO-2022-JP, the SS-MIX2 norm)
    processing_id: str = "P"


def escape(value: str) -> str:
    """An ER7 text value with the separators escaped (HL7 v2.5 section 2.7) and line breaks kept as \\.br\\."""
    out = value.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\").replace("~", "\\R\\")
    out = out.replace("&", "\\T\\")
    return out.replace("\r\n", "\\.br\\").replace("\n", "\\.br\\").replace("\r", "\\.br\\")


def dtm(value: datetime | None) -> str:
    """HL7 DTM in JST with its offset (the EHR side is in Japan; the offset keeps it unambiguous)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=JST)
    return value.astimezone(JST).strftime("%Y%m%d%H%M%S+0900")


def encode_records(records: list[Record], header: MessageHeader, now: datetime | None = None) -> str:
    """One message for the records of one source event: ORU^R01 when they are observations, MDM^T02 for a
    note. Records of other kinds, or of more than one patient, raise InputError (nothing is guessed)."""
    if not records:
        raise InputError("hl7v2 encoder: no records to encode")
    patients = {r.patient_id for r in records}
    if len(patients) != 1 or not next(iter(patients)):
        raise InputError("hl7v2 encoder: the records must belong to exactly one patient (patient_id)")
    kinds = {type(r) for r in records}
    if kinds == {Observation}:
        return _oru(records, header, now)  # type: ignore[arg-type]
    if kinds == {Note} and len(records) == 1:
        return _mdm(records[0], header, now)  # type: ignore[arg-type]
    names = ", ".join(sorted(k.kind.value for k in kinds))
    raise InputError(f"hl7v2 encoder: no outbound message for records of kind {names} (observations or one note)")


def _msh(header: MessageHeader, message_type: str, now: datetime | None) -> str:
    stamp = dtm(now or datetime.now(JST))
    fields = [
        "MSH", ENC, escape(header.sending_application), escape(header.sending_facility),
        escape(header.receiving_application), escape(header.receiving_facility), stamp, "", message_type,
        "",  # MSH-10: filled by the sender from the idempotency key
        header.processing_id, "2.5", "", "", "", "", "", header.charset,
    ]  # fmt: skip
    return "|".join(fields)


def _pid(patient_id: str) -> str:
    return f"PID|1||{escape(patient_id)}^^^^PI"


def _oru(observations: list[Observation], header: MessageHeader, now: datetime | None) -> str:
    first = observations[0]
    when = dtm(first.effective)
    reporter = escape(_reporter(first))
    lines = [
        _msh(header, "ORU^R01^ORU_R01", now),
        _pid(first.patient_id),
        # OBR-4: the battery; 'vital signs' as free text under the local system (no national code exists).
        f"OBR|1|||VITALS^バイタルサイン^99RNK|||{when}",
    ]
    for i, o in enumerate(observations, start=1):
        if o.value_type != "NM" or not o.value:
            raise InputError(f"hl7v2 encoder: observation {i} has no numeric value (OBX-5)")
        code = f"{escape(o.code.code)}^{escape(o.code.display)}^{escape(o.code.system)}"
        unit = o.normalized_unit or o.unit
        obx = [
            "OBX", str(i), "NM", code, "", escape(o.value), escape(unit), escape(o.reference_range),
            escape(o.abnormal_flag), "", "", o.result_status or "F", "", "", dtm(o.effective), "", reporter,
        ]  # fmt: skip
        lines.append("|".join(obx))
    return "\r".join(lines) + "\r"


# Observation.source prefix of a reported reading: who reported it (a staff id). The same constant as
# renkei.mappings.vital_text.REPORTED_BY, repeated because the codec imports only the shared vocabulary.
REPORTED_BY = "reported-by:"


def _reporter(o: Observation) -> str:
    return o.source.removeprefix(REPORTED_BY) if o.source.startswith(REPORTED_BY) else ""


def _mdm(note: Note, header: MessageHeader, now: datetime | None) -> str:
    written = dtm(note.written_at)
    author = escape(note.author)
    unique = escape(note.record_key)
    lines = [
        _msh(header, "MDM^T02^MDM_T02", now),
        f"EVN|T02|{written}",
        _pid(note.patient_id),
        "PV1|1|O",
        # TXA-2 PR progress note (table 0270), -3 TX text, -4 activity time, -9 originator, -12 unique
        # document number (the timeline event: the same post is the same document), -17 AU authenticated.
        f"TXA|1|PR|TX|{written}|||||{author}|||{unique}|||||AU",
    ]
    for i, line in enumerate(note.text.splitlines() or [""], start=1):
        lines.append(f"OBX|{i}|TX|REPLY^返信^99RNK||{escape(line)}||||||F")
    return "\r".join(lines) + "\r"

"""One SS-MIX2 file to canonical records: decode, split, dispatch by data type, check.

`parse_file` is the hot path of a nightly batch: one strict codec call, one split per segment, and only
the fields a record needs are read. Everything that departs from the standard but leaves the file
usable becomes a warning on the Parsed result (and on each of its records); what does not raises
SSMIX2Error with the precise reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from renkei.connectors.base import Parsed
from renkei.connectors.hl7v2 import (
    HANDLERS,
    MessageContext,
    MessageError,
    bad_patient_id,
    check_fields,
    check_message_type,
    check_segments,
    decode_iso2022jp,
    document_bytes,
    source_version,
    split_framed,
)
from renkei.identifiers import is_patient_id
from renkei.mappings.content import verify_files
from renkei.records import RecordStatus

from ._documents import document
from ._errors import Defect, SSMIX2Error
from ._name_checks import check_name_against_content
from ._naming import StorageName, parse_key

STATUS_BY_FLAG = {"1": RecordStatus.CURRENT, "2": RecordStatus.SUPERSEDED, "0": RecordStatus.DELETED}


@dataclass(slots=True, frozen=True)
class ParseOptions:
    replace_undecodable: bool = False  # ■ plus a warning instead of quarantining the file
    patient_mismatch: Literal["quarantine", "warn"] = "quarantine"
    checks: bool = True  # structural checks (segment order, field formats); cheap, on by default


DEFAULT_OPTIONS = ParseOptions()


def parse_file(key: str, raw: bytes, options: ParseOptions = DEFAULT_OPTIONS) -> Parsed:
    """Canonical records of one stored file; raises SSMIX2Error (with the earlier defects attached)."""
    parsed, _ = inspect_file(key, raw, options)
    return parsed


def inspect_file(key: str, raw: bytes, options: ParseOptions = DEFAULT_OPTIONS) -> tuple[Parsed, list[Defect]]:
    sn = parse_key(key)
    defects = sn.defects

    def fail(defect: Defect) -> SSMIX2Error:
        return SSMIX2Error(defect, list(defects))

    body = raw.strip(b"\x0b\x1c\x00\r\n\t ")
    if sn.attachment:  # beside main_document in the extended storage: kept as raw bytes, no records
        return Parsed([], patient_id=sn.folder_pid, data_type="EXT", warnings=[str(d) for d in defects]), defects
    if not body:
        raise fail(Defect("empty_file", key, problem=f"empty file ({len(raw)} bytes, no HL7 content)"))
    if sn.extended and not body.startswith(b"MSH"):
        return _document(sn, raw, options, fail)
    if not body.startswith(b"MSH"):
        shown = " ".join(f"0x{b:02x}" for b in body[:4])
        raise fail(Defect("not_hl7", key, "MSH", problem=f"not an HL7 v2 message: starts with bytes {shown}, not MSH"))
    try:
        text, decode_defects = decode_iso2022jp(raw, key, replace=options.replace_undecodable)
    except MessageError as exc:
        raise fail(exc.defect) from None
    defects.extend(decode_defects)
    try:
        msg, framing = split_framed(text, key)
    except MessageError as exc:
        defects.extend(exc.others)
        raise fail(exc.defect) from None
    defects.extend(framing)
    data_type = sn.data_type
    msh = msg.segments[0]
    if len(msh) < 13 or not msg.c(msh, 9, 1):
        raise fail(Defect("truncated", key, "MSH", "MSH-9", "truncated message: MSH ends before the message type"))
    pid_seg = msg.first("PID")
    if pid_seg is None:
        raise fail(Defect("truncated", key, "PID", problem="truncated message: no PID segment"))
    content_pid = msg.c(pid_seg, 3, 1)
    ids = {p for p in (sn.folder_pid, sn.pid, content_pid) if p}
    pid = sn.folder_pid or sn.pid or content_pid
    if not all(map(is_patient_id, ids)):  # usually one distinct id: one check
        for where, value in (("patient folder", sn.folder_pid), ("file name", sn.pid), ("PID-3", content_pid)):
            if value and not is_patient_id(value):
                raise fail(bad_patient_id(key, where))
    if len(ids) > 1:
        # Which places disagree, never the ids themselves (error texts carry no patient data).
        places = [(w, v) for w, v in (("PID-3", content_pid), ("the patient folder", sn.folder_pid),
                                      ("the file name", sn.pid)) if v]  # fmt: skip
        alone = [w for w, v in places if sum(v == other for _, other in places) == 1]
        if len(alone) == 1 and len(places) == 3:
            what = f"{alone[0]} names another patient than " + " and ".join(w for w, _ in places if w != alone[0])
        else:
            what = ", ".join(w for w, _ in places) + " name different patients"
        defect = Defect("patient_mismatch", key, "PID", "PID-3", f"patient ids disagree: {what}")
        if options.patient_mismatch == "quarantine":
            raise fail(defect)
        defects.append(defect)
    status = STATUS_BY_FLAG.get(sn.flag, RecordStatus.CURRENT)
    ctx = MessageContext(key, sn, msg, pid, data_type, status, defects)
    if options.checks:
        check_message_type(ctx)
        check_segments(ctx)
        check_fields(ctx)
        if not sn.extended:  # an extended content folder names a document, not the message's order
            check_name_against_content(ctx)
    # Handlers never see what the checks called junk: bare segment names and repeated headers.
    msg.segments = [msh] + [seg for seg in msg.segments[1:] if seg[0] != "MSH" and any(seg[1:])]
    handler = HANDLERS.get(data_type)
    records = handler(ctx) if handler is not None else []
    if any(getattr(r, "content", "") for r in records):  # HL7 v2 ED attachments: checked by content
        verify_files(records, lambda locator: document_bytes(msg, key, locator), key)
    seen: set[tuple[str, str, str]] = set()
    unique: list[Defect] = []
    for d in defects:  # one line per distinct problem, e.g. the same short order number in every ORC
        ident = (d.kind, d.field or d.segment, d.problem)
        if ident not in seen:
            seen.add(ident)
            unique.append(d)
    defects = unique
    warnings = [str(d) for d in defects]
    if warnings:
        for r in records:
            r.warnings = list(warnings)
    version = source_version(msg.c(msh, 7, 1), sn.timestamp)  # MSH-7, else the file name's timestamp
    return Parsed(records, patient_id=pid, data_type=data_type, warnings=warnings, version=version), defects


def _document(
    sn: StorageName, raw: bytes, options: ParseOptions, fail: Callable[[Defect], SSMIX2Error]
) -> tuple[Parsed, list[Defect]]:
    pid = sn.folder_pid
    doc, found = document(sn, raw, pid, STATUS_BY_FLAG.get(sn.flag, RecordStatus.CURRENT))
    defects = [*sn.defects, *found]
    mismatch = next((d for d in found if d.kind == "patient_mismatch"), None)
    if mismatch is not None and options.patient_mismatch == "quarantine":
        sn.defects[:] = [d for d in defects if d is not mismatch]
        raise fail(mismatch)
    warnings = [str(d) for d in defects]
    doc.warnings = list(warnings)
    version = source_version("", sn.timestamp)
    return Parsed([doc], patient_id=pid, data_type="EXT", warnings=warnings, version=version), defects


def stored_document(key: str, raw: bytes, locator: str) -> bytes:
    """The file an ED OBX of a stored HL7 v2 file carries (the engine resolves it just before delivery)."""
    text, _ = decode_iso2022jp(raw, key, replace=True)
    return document_bytes(split_framed(text, key)[0], key, locator)

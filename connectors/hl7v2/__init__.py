"""The HL7 v2 codec: ER7 bytes <-> text <-> segments and fields <-> canonical records, and ACKs.

    from renkei.connectors.hl7v2 import split, decode_iso2022jp, codec_for, read_header, build_ack

    text, defects = decode_iso2022jp(raw, key)      # tolerant JIS (vendor rows, 外字), byte offsets
    msg = split(text, key)                          # separators from MSH-1/MSH-2, escapes undone on read
    msg.c(msg.first("PID"), 3, 1)                   # PID-3.1
    parsed = parse_message(text, key)               # MessageRecords(records, patient_id, data_type, warnings)
    ack = build_ack(read_header(raw), "AA")         # original-mode ACK text (ack rules in _ack.py)

Both the SS-MIX2 storage connector and the MLLP listener/sender use it; it imports only the shared
vocabulary (`renkei.records`, `renkei.errors`), never another connector. Framing rules (segment
terminators, truncation evidence, one message per unit): `docs/hl7v2.md` and `_framing.py`.
"""

from ._ack import Ack, build_ack, new_control_id, read_ack, validate_strict
from ._attachments import LOCATOR_PREFIX, document_bytes
from ._charset import codec_for, decode_text
from ._checks import CANCEL_TRIGGERS, MESSAGE_TYPES, check_fields, check_message_type, check_segments, is_dtm
from ._context import NO_ORDER, Filing, FilingLike
from ._context import Ctx as MessageContext
from ._defect import FATAL_KINDS, KINDS, Defect, MessageError
from ._encode import REPORTED_BY, MessageHeader, encode_records
from ._er7 import Message, Segment, split
from ._framing import (
    ONE_MESSAGE_RULE,
    REQUIRED,
    is_terminated,
    second_header_offset,
    split_framed,
    terminator_style,
    truncation,
)
from ._header import Header, header_or_empty, read_header
from ._hl7error import HL7Error
from ._jis import REPLACEMENT, decode_iso2022jp
from ._message import (
    HANDLERS,
    SUPPORTED,
    MessageRecords,
    bad_patient_id,
    check_message,
    data_type_of,
    parse_message,
)
from ._values import JST, parse_dt, parse_dtm, source_version

__all__ = [
    "CANCEL_TRIGGERS",
    "FATAL_KINDS",
    "HANDLERS",
    "JST",
    "KINDS",
    "LOCATOR_PREFIX",
    "MESSAGE_TYPES",
    "NO_ORDER",
    "ONE_MESSAGE_RULE",
    "REPLACEMENT",
    "REPORTED_BY",
    "REQUIRED",
    "SUPPORTED",
    "Ack",
    "Defect",
    "Filing",
    "FilingLike",
    "HL7Error",
    "Header",
    "Message",
    "MessageContext",
    "MessageError",
    "MessageHeader",
    "MessageRecords",
    "Segment",
    "bad_patient_id",
    "build_ack",
    "check_fields",
    "check_message",
    "check_message_type",
    "check_segments",
    "codec_for",
    "data_type_of",
    "decode_iso2022jp",
    "decode_text",
    "document_bytes",
    "encode_records",
    "header_or_empty",
    "is_dtm",
    "is_terminated",
    "new_control_id",
    "parse_dt",
    "parse_dtm",
    "parse_message",
    "read_ack",
    "read_header",
    "second_header_offset",
    "source_version",
    "split",
    "split_framed",
    "terminator_style",
    "truncation",
    "validate_strict",
]

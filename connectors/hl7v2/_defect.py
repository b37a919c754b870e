"""HL7 v2 defects: the error that quarantines a message (or file) and the defect record behind every warning.

Every defect names the message or file (its key: an SS-MIX2 path, an MLLP sender|control id), the
segment and field where it was found, a stable `kind` (what `renkei ssmix2 check` counts and tests
assert on) and the problem. Texts never quote patient data: only ids, codes, positions and byte offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

from renkei.errors import InputError

# Stable defect kinds. Fatal ones raise SSMIX2Error (the engine quarantines the file); the others are
# warnings on an otherwise usable file.
FATAL_KINDS = frozenset(
    {
        "empty_file",
        "not_hl7",
        "undecodable",
        "truncated",
        "patient_mismatch",  # fatal by default: a record must never land on another patient's timeline
        "unreadable",
        "bad_document",  # extended storage document (CDA XML, PDF) that cannot be read
        "multiple_messages",  # more than one MSH in one file or frame: never attributed to one patient
    }
)
KINDS = FATAL_KINDS | {
    "bad_name",  # file name not in the standard pattern
    "wrong_folder",  # folder path disagrees with the file name
    "data_type_mismatch",  # MSH-9 is not the message the data type in the name requires
    "care_date_mismatch",  # the care date in the name differs from the field the data type defines
    "order_no_mismatch",  # the order number in the name is not the message's ORC-2/OBR-2
    "department_mismatch",
    "field_length",  # order number not 15 digits, JLAC10 not 17 characters, …
    "shifted_field",  # a value sits one or more fields away from where the data type puts it
    "bad_value",  # a field holds a value of the wrong type (date that is no date, …)
    "junk_segment",  # unknown, empty or repeated-header segments
    "misordered_segment",  # segment out of the message structure's order
    "missing_field",  # a field the data type needs is empty
    "decode_fallback",  # text decoded only by a tolerant fallback (details say which)
    "segment_terminator",  # segments ended by LF or CRLF instead of CR (accepted; the style is named)
    "unescaped_delimiter",  # a component/subcomponent separator inside an ST/TX/FT value
    "code_shape",  # a code that does not have its coding system's shape (JLAC10 17 chars, YJ 12, HOT 9/13)
    "bad_patient_id",  # a patient id outside the identifier rule (renkei.identifiers)
}


@dataclass(slots=True, frozen=True)
class Defect:
    kind: str
    file: str
    segment: str = ""  # e.g. "PID" or "OBX[3]" (third OBX) or "" for the file as a whole
    field: str = ""  # e.g. "PID-3" or "PID-5.1"
    problem: str = ""
    offset: int | None = None  # byte offset in the raw file, for decoding defects

    def __str__(self) -> str:
        where = self.field or self.segment
        pos = f" at byte {self.offset}" if self.offset is not None else ""
        return f"{self.file}: {where + ': ' if where else ''}{self.problem}{pos} [{self.kind}]"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "file": self.file,
            "segment": self.segment,
            "field": self.field,
            "problem": self.problem,
            "offset": self.offset,
        }


class MessageError(InputError):
    """A message (file) that cannot be turned into records as it is; the text is the quarantine reason."""

    def __init__(self, defect: Defect, others: list[Defect] | None = None) -> None:
        super().__init__(str(defect))
        self.defect = defect
        # Non-fatal defects found before the fatal one, so `check` can report them all.
        self.others = others or []

    @property
    def kind(self) -> str:
        return self.defect.kind

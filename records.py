"""Canonical records: what every source produces and every mapping and destination consumes.

Sources (SS-MIX2, HL7 v2 over MLLP, FHIR, devices) parse their input into these small dataclasses;
the raw input always stays on the stored message beside them. Every record carries the patient id it
belongs to (an EHR id, never a name), where it came from, and any warnings the parser raised on an
otherwise usable input.

`record_key` identifies the clinical fact across re-exports (for SS-MIX2: patient, data type, order
number and event time), so an update replaces and a delete retracts the earlier record downstream
instead of posting it again.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar


class RecordKind(StrEnum):
    PATIENT = "patient"
    ENCOUNTER = "encounter"
    CONDITION = "condition"
    ALLERGY = "allergy"
    MEDICATION = "medication"
    OBSERVATION = "observation"
    ORDER = "order"
    DOCUMENT = "document"
    NOTE = "note"


class RecordStatus(StrEnum):
    CURRENT = "current"  # SS-MIX2 condition flag 1
    SUPERSEDED = "superseded"  # flag 2: replaced by a newer record with the same record_key
    DELETED = "deleted"  # flag 0: retract downstream


@dataclass(slots=True, frozen=True)
class Coding:
    """A coded value: `system` is the HL7 v2 coding-system name (JC10, HOT9, MDCDX2, I10, 99XYZ …)."""

    code: str
    display: str = ""
    system: str = ""


@dataclass(slots=True, kw_only=True)
class Record:
    kind: ClassVar[RecordKind]
    patient_id: str
    record_key: str = ""
    status: RecordStatus = RecordStatus.CURRENT
    source: str = ""  # file path, MLLP control id, device system id …
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if not value and name in _OMITTED_WHEN_EMPTY:
                continue
            # Plain strings and numbers (most fields) skip the conversion call: this runs per record.
            out[name] = value if value is None or type(value) in (str, int, float, bool) else _jsonable(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        target = RECORD_TYPES[RecordKind(data["kind"])]
        kwargs = {}
        hints = {f.name: f for f in dataclasses.fields(target)}
        for name, value in data.items():
            if name == "kind" or name not in hints:
                continue
            kwargs[name] = _from_jsonable(target, name, value)
        return target(**kwargs)


@dataclass(slots=True, kw_only=True)
class Patient(Record):
    kind: ClassVar[RecordKind] = RecordKind.PATIENT
    name_kanji: str = ""
    name_kana: str = ""
    birth_date: date | None = None
    sex: str = ""  # HL7 table 0001: M, F, O, U
    postcode: str = ""
    address: str = ""
    phones: list[str] = field(default_factory=list)
    # ADT-00 NK1 / IN1 as plain string dicts (connectors/hl7v2/_kin.py names the keys); left out of to_dict
    # when empty, so records without them keep the dicts (and delivery keys) they always had.
    contacts: list[dict[str, str]] = field(default_factory=list)
    coverages: list[dict[str, str]] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class Encounter(Record):
    kind: ClassVar[RecordKind] = RecordKind.ENCOUNTER
    event: str  # admission, admission_planned, discharge, discharge_planned, transfer, visit, leave, return
    occurred_at: datetime | None = None
    patient_class: str = ""  # PV1-2: I inpatient, O outpatient
    department: str = ""
    location: str = ""
    attending: str = ""  # staff code, not a name
    visit_number: str = ""  # PV1-19: ties the events of one stay (or visit) together
    admitted_at: datetime | None = None  # PV1-44: the stay's start, carried by its later events too


@dataclass(slots=True, kw_only=True)
class Condition(Record):
    kind: ClassVar[RecordKind] = RecordKind.CONDITION
    code: Coding  # MEDIS disease code (MDCDX2)
    icd10: str = ""
    modifiers: list[Coding] = field(default_factory=list)
    onset: date | None = None
    clinical_status: str = ""


@dataclass(slots=True, kw_only=True)
class Allergy(Record):
    kind: ClassVar[RecordKind] = RecordKind.ALLERGY
    category: Coding  # HL70127: DA drug, FA food, …
    allergen: Coding
    severity: str = ""
    reaction: str = ""


@dataclass(slots=True, kw_only=True)
class Medication(Record):
    kind: ClassVar[RecordKind] = RecordKind.MEDICATION
    activity: str  # prescription, injection, administration (oral, OMP-11), injection_administration (OMP-12)
    drug: Coding  # HOT9 where the source has it
    dose: str = ""
    dose_unit: str = ""
    route: str = ""
    timing: str = ""
    start: datetime | None = None
    end: datetime | None = None
    order_no: str = ""
    rp_number: str = ""  # ORC-4: the RP (剤グループ) the drug belongs to
    order_in_rp: int = 0  # 1-based place of the drug within its RP; 0 unknown
    authored_at: datetime | None = None  # ORC-9: when the order was written
    usage: Coding | None = None  # TQ1-3 usage code (JAMISDP01 …); `timing` keeps its text
    dose_unit_system: str = ""  # coding system of dose_unit (MR9P: MERIT-9)
    supply_days: str = ""  # TQ1-6 in days (投与日数)


@dataclass(slots=True, kw_only=True)
class Observation(Record):
    kind: ClassVar[RecordKind] = RecordKind.OBSERVATION
    code: Coding  # JLAC10 for labs, IEEE 11073 nomenclature for devices
    local_code: Coding | None = None
    value: str = ""
    value_type: str = "NM"  # HL7 v2 OBX-2
    unit: str = ""
    reference_range: str = ""
    abnormal_flag: str = ""
    effective: datetime | None = None
    result_status: str = ""
    # Devices keep the original reading and add a normalised one (e.g. kPa → mmHg).
    normalized_value: float | None = None
    normalized_unit: str = ""
    device_id: str = ""
    flags: list[str] = field(default_factory=list)  # e.g. implausible, clock_offset
    order_no: str = ""
    # OUL^R22 SPM of the result's group as plain strings (connectors/hl7v2/_specimen.py names the keys); left
    # out of to_dict when empty, so results without an SPM keep the dicts (and delivery keys) they always had.
    specimen: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class Order(Record):
    kind: ClassVar[RecordKind] = RecordKind.ORDER
    category: str  # lab, radiology, endoscopy, physiology, diet, …
    order_no: str
    code: Coding | None = None
    ordered_at: datetime | None = None
    order_status: str = ""
    text: str = ""


@dataclass(slots=True, kw_only=True)
class Document(Record):
    kind: ClassVar[RecordKind] = RecordKind.DOCUMENT
    title: str
    code: Coding | None = None
    media_type: str = ""  # what the bytes are, told by content (mappings/content.py), not by the file name
    path: str = ""
    text: str = ""
    authored_at: datetime | None = None
    author: str = ""  # who wrote it, as the document says (a clinician, never the patient)
    # The file itself is never copied into records or payloads: it stays in the stored raw input (kept,
    # reprocessable, pruned by retention with the raw input) and `content` says where in it:
    # "raw" (the input is the file: SS-MIX2 main_document), "hl7v2:OBX/<n>" (ED data of the n-th OBX).
    # The engine resolves it just before delivery (pipelines/documents.py). "" = no file (e.g. RP).
    content: str = ""
    size: int = 0  # bytes of the file
    sha256: str = ""  # hex digest of the file, checked when it is resolved
    file_name: str = ""  # the name it is posted under (e.g. main_document.pdf)
    url: str = ""  # HL7 v2 RP (reference pointer): where the file lives; http(s) only
    # base64 of the file, set only in memory by the engine just before a delivery (pipelines/documents.py)
    # for a destination that sends the file itself (FHIR DocumentReference); never stored with the records.
    data: str = ""


@dataclass(slots=True, kw_only=True)
class Note(Record):
    kind: ClassVar[RecordKind] = RecordKind.NOTE
    text: str
    tags: list[str] = field(default_factory=list)
    author: str = ""
    written_at: datetime | None = None


RECORD_TYPES: dict[RecordKind, type[Record]] = {
    cls.kind: cls for cls in (Patient, Encounter, Condition, Allergy, Medication, Observation, Order, Document, Note)
}


_OMITTED_WHEN_EMPTY = frozenset({"contacts", "coverages", "specimen"})


@functools.cache
def _field_names(cls: type[Record]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Coding):
        return {"code": value.code, "display": value.display, "system": value.system}
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


_DATE_FIELDS = {"birth_date", "onset"}
_DATETIME_FIELDS = {
    "admitted_at",
    "occurred_at",
    "start",
    "end",
    "effective",
    "ordered_at",
    "authored_at",
    "written_at",
}
_CODING_FIELDS = {"code", "category", "allergen", "drug", "local_code", "usage"}


def _from_jsonable(target: type[Record], name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _DATE_FIELDS:
        return date.fromisoformat(value)
    if name in _DATETIME_FIELDS:
        return datetime.fromisoformat(value)
    if name == "status":
        return RecordStatus(value)
    if name in _CODING_FIELDS and isinstance(value, dict):
        return Coding(**value)
    if name == "modifiers":
        return [Coding(**v) for v in value]
    return value


@dataclass(slots=True, frozen=True)
class SourceItem:
    """One raw input a source can hand over.

    key: stable within the source (relative file path, MLLP sender + control id).
    fingerprint: changes whenever the content may have changed (e.g. "mtime_ns:size").
    group: ledger shard, e.g. the patient folder, so the engine only ever holds one group's ledger.
    """

    key: str
    fingerprint: str
    group: str = ""

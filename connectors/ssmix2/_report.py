"""Whole-storage passes behind `renkei ssmix2 check` and `renkei ssmix2 read`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from renkei.errors import InputError
from renkei.identifiers import PATIENT_ID_RULE, is_patient_id
from renkei.records import Record

from ._errors import FATAL_KINDS, Defect, SSMIX2Error
from ._naming import parse_key
from ._parse import ParseOptions, inspect_file
from ._source import scan

# Check every defect, including the ones that would stop a file: patient mismatches become defects
# instead of cutting the inspection short, and are still counted as fatal.
_CHECK = ParseOptions(patient_mismatch="warn")


@dataclass(slots=True)
class FileReport:
    key: str
    data_type: str = ""
    records: list[Record] = field(default_factory=list)
    defects: list[Defect] = field(default_factory=list)

    @property
    def fatal(self) -> Defect | None:
        return next((d for d in self.defects if d.kind in FATAL_KINDS), None)


def patient_folder(patient_id: str) -> str:
    """The storage folder of a patient; InputError for an id outside the rule (no walking out of the root)."""
    if not is_patient_id(patient_id):
        raise InputError(f"patient id does not follow the patient-id rule ({PATIENT_ID_RULE})")
    return f"{patient_id[0:3]}/{patient_id[3:6]}/{patient_id}"


def inspect_storage(root: Path | str, patient_id: str = "") -> Iterator[FileReport]:
    """One FileReport per file, streamed in scan order (a patient's folder only, when given).
    Raises InputError at once for a patient id outside the rule."""
    under = patient_folder(patient_id) if patient_id else ""
    return _reports(root, under)


def _reports(root: Path | str, under: str) -> Iterator[FileReport]:
    for item in scan(root, under=under):
        report = FileReport(item.key)
        try:
            with open(os.path.join(root, item.key), "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            report.defects.append(Defect("unreadable", item.key, problem=f"cannot read: {exc.strerror}"))
            yield report
            continue
        try:
            parsed, defects = inspect_file(item.key, raw, _CHECK)
        except SSMIX2Error as exc:
            report.defects = [*exc.others, exc.defect]
            report.data_type = parse_key(item.key).data_type
            yield report
            continue
        report.data_type, report.records, report.defects = parsed.data_type, parsed.records, defects
        yield report

"""SS-MIX2 storage paths and file names.

Standard storage: `<PID[0:3]>/<PID[3:6]>/<PID>/<care date|->/<data type>/<file>` where the file is
`PID_careDate_dataType_orderNo_timestamp_department_conditionFlag`. Extended storage has the same
patient/date tree, then a kind folder and a content folder holding `main_document.*`.
This module only reads names; it never touches the disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from renkei.connectors.hl7v2 import NO_ORDER

from ._errors import Defect

FLAGS = {"1": "current", "2": "superseded", "0": "deleted"}

DATA_TYPES = (
    "ADT-00",
    "ADT-01",
    "ADT-12",
    "ADT-21",
    "ADT-22",
    "ADT-31",
    "ADT-32",
    "ADT-41",
    "ADT-42",
    "ADT-51",
    "ADT-52",
    "ADT-61",
    "PPR-01",
    "OMD",
    "OMP-01",
    "OMP-02",
    "OMP-11",
    "OMP-12",
    "OML-01",
    "OML-11",
    "OMG-01",
    "OMG-02",
    "OMG-03",
    "OMG-11",
    "OMG-12",
    "OMG-13",
)
_DATA_TYPES = frozenset(DATA_TYPES)
_DATE = re.compile(r"\d{8}$")
_TS = re.compile(r"\d{17}$")


@dataclass(slots=True)
class StorageName:
    key: str
    extended: bool = False
    # from the folders
    folder_pid: str = ""
    folder_date: str = ""
    folder_kind: str = ""  # data type folder, or the extended kind folder
    # from the file name (standard storage)
    pid: str = ""
    care_date: str = ""  # YYYYMMDD or "-"
    data_type: str = ""
    order_no: str = ""
    timestamp: str = ""
    department: str = ""
    flag: str = ""
    # extended storage: the content folder, and whether the file is an attachment beside main_document
    content_folder: str = ""
    attachment: bool = False
    defects: list[Defect] = field(default_factory=list)

    @property
    def group(self) -> str:
        return patient_group(self.key)


def patient_group(key: str) -> str:
    """The patient folder of a key (`999/901/9999013`), or the parent folder for stray files."""
    parts = key.split("/")
    return "/".join(parts[:3]) if len(parts) > 3 else "/".join(parts[:-1])


def parse_key(key: str) -> StorageName:
    """Read everything the path says, with a defect for each way it departs from the standard layout."""
    parts = key.split("/")
    sn = StorageName(key)
    d = sn.defects
    fname = parts[-1]
    if len(parts) >= 7 and (fname.lower().startswith("main_document") or parts[4] not in _DATA_TYPES):
        _extended(sn, parts)
        return sn
    if len(parts) == 6:
        sn.folder_pid, sn.folder_date, sn.folder_kind = parts[2], parts[3], parts[4]
        _check_patient_folders(sn, parts)
    else:
        d.append(Defect("wrong_folder", key, problem=f"file is {len(parts) - 1} folders deep; the standard is 5"))
    bits = fname.split("_")
    if len(bits) != 7:
        d.append(Defect("bad_name", key, problem=f"file name has {len(bits)} '_' parts; the standard has 7"))
        sn.pid, sn.care_date, sn.data_type = sn.folder_pid, sn.folder_date, sn.folder_kind
        sn.flag = "1"
        return sn
    sn.pid, sn.care_date, sn.data_type, sn.order_no, sn.timestamp, sn.department, sn.flag = bits
    if sn.data_type not in _DATA_TYPES:
        d.append(Defect("bad_name", key, problem=f"unknown data type {sn.data_type!r} in the file name"))
    if sn.care_date != "-" and not _DATE.match(sn.care_date):
        d.append(Defect("bad_name", key, problem=f"care date {sn.care_date!r} is not YYYYMMDD or '-'"))
    if len(sn.order_no) != 15 or not sn.order_no.isalnum():
        d.append(
            Defect(
                "field_length", key, field="order number",
                problem=f"order number in the file name has {len(sn.order_no)} characters; the standard is 15",
            )
        )  # fmt: skip
    if not _TS.match(sn.timestamp):
        d.append(Defect("bad_name", key, problem=f"timestamp {sn.timestamp!r} is not YYYYMMDDHHMMSSFFF"))
    if sn.flag not in FLAGS:
        d.append(Defect("bad_name", key, problem=f"condition flag {sn.flag!r} is not 0, 1 or 2"))
    if sn.folder_pid or len(parts) == 6:
        wrong = [
            f"{what} folder {got!r} but file name {want!r}"
            for what, got, want in (
                ("patient", sn.folder_pid, sn.pid),
                ("care date", sn.folder_date, sn.care_date),
                ("data type", sn.folder_kind, sn.data_type),
            )
            if got != want
        ]
        if wrong:
            d.append(Defect("wrong_folder", key, problem="; ".join(wrong)))
    return sn


def _extended(sn: StorageName, parts: list[str]) -> None:
    """`<pid>/<date>/<kind>/<content>/main_document.*`, read tolerantly: the content folder usually has
    the standard 7-part name (its order number, timestamp and condition flag then count as the file's),
    but any other name is taken as an opaque document id. Files beside main_document are attachments."""
    sn.extended = True
    sn.data_type = "EXT"
    sn.folder_pid, sn.folder_date, sn.folder_kind = parts[2], parts[3], parts[4]
    sn.pid, sn.care_date = sn.folder_pid, sn.folder_date
    sn.content_folder = parts[-2]
    sn.attachment = not parts[-1].lower().startswith("main_document")
    sn.flag = "1"
    _check_patient_folders(sn, parts)
    bits = sn.content_folder.split("_")
    if len(bits) == 7 and bits[6] in FLAGS and _TS.match(bits[4]):
        _, _, _, order_no, sn.timestamp, sn.department, sn.flag = bits
        sn.order_no = order_no if order_no != NO_ORDER else ""
        if bits[0] != sn.folder_pid:
            sn.defects.append(
                Defect(
                    "wrong_folder", sn.key,
                    problem=f"patient folder {sn.folder_pid!r} but content folder {bits[0]!r}",
                )
            )  # fmt: skip
    else:
        sn.order_no = sn.content_folder  # an opaque document id: the only stable identity there is


def _check_patient_folders(sn: StorageName, parts: list[str]) -> None:
    pid = sn.folder_pid
    want = (pid[0:3], pid[3:6])
    if (parts[0], parts[1]) != want:
        sn.defects.append(
            Defect(
                "wrong_folder",
                sn.key,
                problem=f"patient {pid!r} belongs under {want[0]}/{want[1]}, not {parts[0]}/{parts[1]}",
            )
        )

"""What a data-type handler gets: the split message, where it is filed, the patient and a defect list.

`name` is anything with `order_no`, `care_date` and `department` (an SS-MIX2 StorageName, or a `Filing`
made from the message itself for MLLP): record keys take the order number, else the care date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from renkei.records import Coding, RecordStatus

from ._codes import SHAPES, shape_problem
from ._defect import Defect
from ._er7 import Message, Segment

NO_ORDER = "999999999999999"  # SS-MIX2's "no order number" (15 nines)


class FilingLike(Protocol):
    order_no: str
    care_date: str  # YYYYMMDD or "-"
    department: str


@dataclass(slots=True)
class Filing:
    """Where a message stands when it is not a stored file (MLLP): taken from the message itself."""

    care_date: str = "-"
    order_no: str = ""
    department: str = ""


@dataclass(slots=True)
class Ctx:
    key: str
    name: FilingLike
    msg: Message
    pid: str
    data_type: str
    status: RecordStatus
    defects: list[Defect] = field(default_factory=list)
    _seen: dict[str, int] = field(default_factory=dict)

    def warn(self, kind: str, segment: str, fld: str, problem: str) -> None:
        self.defects.append(Defect(kind, self.key, segment, fld, problem))

    def record_key(self, order_no: str, *fact: str) -> str:
        """`pid/data type/order or care date/fact…`, unique within the file (see package docs)."""
        slot = order_no if order_no and order_no != NO_ORDER else f"@{self.name.care_date}"
        key = "/".join((self.pid, self.data_type, slot, *fact))
        n = self._seen.get(key, 0) + 1
        self._seen[key] = n
        return key if n == 1 else f"{key}#{n}"

    def coding(self, seg: Segment, i: int, first: int = 1, *, result: bool = False) -> Coding:
        """CE/CWE components first..first+2 of field i as a Coding (first=4: the alternate code).
        `result`: the code names a measured result (its shape is then checked strictly, `_codes.py`)."""
        m = self.msg
        coding = Coding(m.c(seg, i, first), m.c(seg, i, first + 1), m.c(seg, i, first + 2))
        self.check_code(coding, seg[0], f"{seg[0]}-{i}.{first}", result=result)
        return coding

    def check_code(self, coding: Coding, segment: str, fld: str, *, result: bool = False) -> None:
        """Flag (never drop) a code that does not have its coding system's shape (`_codes.py`)."""
        if coding.system not in SHAPES:  # hot path: most codes are local (99xxx) and never checked
            return
        code = coding.code
        if self.msg.ss and self.msg.ss in code:  # e.g. 9A100&IMP: a qualifier in a subcomponent
            code = code.split(self.msg.ss, 1)[0]
        found = shape_problem(coding.system, code, result=result)
        if found is not None:
            self.warn(found[0], segment, fld, found[1])

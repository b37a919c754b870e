"""What a data-type handler gets: the split message, the name, the patient and a defect list."""

from __future__ import annotations

from dataclasses import dataclass, field

from renkei.records import Coding, RecordStatus

from ._er7 import Message, Segment
from ._errors import Defect
from ._naming import NO_ORDER, StorageName

STATUS_BY_FLAG = {"1": RecordStatus.CURRENT, "2": RecordStatus.SUPERSEDED, "0": RecordStatus.DELETED}


@dataclass(slots=True)
class Ctx:
    key: str
    name: StorageName
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

    def coding(self, seg: Segment, i: int, first: int = 1) -> Coding:
        """CE/CWE components first..first+2 of field i as a Coding (first=4: the alternate code)."""
        m = self.msg
        return Coding(m.c(seg, i, first), m.c(seg, i, first + 1), m.c(seg, i, first + 2))

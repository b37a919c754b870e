"""OUL^R22 SPM (specimen) into the plain string dict an Observation carries (renkei.records.Observation.specimen).

HL7 v2.5 ch. 7.4.3: SPM-1 set id, SPM-2 specimen id (EIP: placer^filler, each an EI whose first subcomponent
is the id), SPM-4 specimen type (CWE: SS-MIX2 sends the JLAC10 material code, 023^血清^JC10; HL7 table 0487
is the standard's own), SPM-17 collection date/time (DR: its start), SPM-18 received date/time. `position`
is the SPM's place among the message's SPMs (1-based): what tells two specimens apart when SPM-2 is empty.
The results an SPM covers are the OBX of its group (PID PV1 {SPM {OBR [ORC] {OBX}}}): each carries it.
"""

from __future__ import annotations

from ._er7 import Message, Segment
from ._values import parse_dtm


def _first_sub(m: Message, value: str) -> str:
    """The first subcomponent of an already unescaped component (an EI's id, a DR's start)."""
    return value.split(m.ss, 1)[0] if m.ss else value


def _when(value: str) -> str:
    parsed = parse_dtm(value)
    return parsed.isoformat() if parsed else ""


def specimen(m: Message, spm: Segment, position: int) -> dict[str, str]:
    """The SPM's facts; keys with no value are left out, so an SPM without SPM-18 has no `received`."""
    facts = {
        "position": str(position),
        "set_id": m.f(spm, 1),
        "id": _first_sub(m, m.c(spm, 2, 1)) or _first_sub(m, m.c(spm, 2, 2)),
        "type_code": m.c(spm, 4, 1),
        "type_display": m.c(spm, 4, 2),
        "type_system": m.c(spm, 4, 3),
        "collected": _when(_first_sub(m, m.c(spm, 17, 1))),
        "received": _when(m.c(spm, 18, 1)),
    }
    return {k: v for k, v in facts.items() if v}

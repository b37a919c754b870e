"""One decoded HL7 v2 message to canonical records: split, check, dispatch by data type.

    parsed = parse_message(text, key)          # MessageRecords(records, patient_id, data_type, warnings)
    data_type, patient_id = check_message(text, key)   # only the checks that can reject it, no records

The records are exactly what the same message stored as an SS-MIX2 file yields, including record keys,
so a patient seen both over MLLP and in the storage is one patient downstream. What a file name would
say is taken from the message: the data type from MSH-9 (through the SS-MIX2 table of message types),
the patient from PID-3, the care date "-" for patient basics (as the storage files them) and else the
specimen, observation or message date. Raises MessageError (an InputError) with the precise reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from renkei.identifiers import PATIENT_ID_RULE, is_patient_id
from renkei.records import Record, RecordStatus

from . import _adt, _checks, _orders
from ._context import Ctx, Filing
from ._defect import Defect, MessageError
from ._er7 import Message
from ._framing import split_framed
from ._results import oml11, oru
from ._values import source_version

Handler = Callable[[Ctx], list[Record]]
# SS-MIX2 data type -> the handler that reads its message into records.
HANDLERS: dict[str, Handler] = {
    "ADT-00": _adt.adt00,
    **{t: _adt.encounter for t in _adt.EVENTS},
    "ADT-61": _adt.adt61,
    "PPR-01": _orders.ppr01,
    "OMD": _orders.orders,
    "OMP-01": _orders.omp_orders,
    "OMP-02": _orders.omp_orders,
    "OMP-11": _orders.omp_administration,
    "OMP-12": _orders.omp_administration,
    "OML-01": _orders.orders,
    "OML-11": oml11,
    "OMG-01": _orders.orders,
    "OMG-02": _orders.orders,
    "OMG-03": _orders.orders,
    "OMG-11": _orders.orders,
    "OMG-12": _orders.orders,
    "OMG-13": oru,
    "EXT": oru,
}


@dataclass(slots=True)
class MessageRecords:
    """What one message yields (the connectors wrap it in their `Parsed`)."""

    records: list[Record]
    patient_id: str = ""
    data_type: str = ""
    warnings: list[str] = field(default_factory=list)
    version: str = ""  # source_version(MSH-7): orders corrections of the same result


def bad_patient_id(key: str, where: str) -> Defect:
    """The refusal of a patient id outside the rule: names the field, never the value."""
    segment = where.split("-", 1)[0] if "-" in where else ""
    return Defect(
        "bad_patient_id", key, segment, where if segment else "",
        f"patient id ({where}) does not follow the patient-id rule ({PATIENT_ID_RULE}); not read",
    )  # fmt: skip


def _supported() -> dict[str, str]:
    out: dict[str, str] = {}
    for dt in sorted(HANDLERS):  # a message type two data types share (RDE^O11) goes to the first
        if dt == "EXT":
            continue  # extended storage reads document files, not messages
        for mt in sorted(_checks.MESSAGE_TYPES.get(dt, ())):
            out.setdefault(mt, dt)
    return out


# MSH-9 "code^trigger" -> the SS-MIX2 data type whose handler reads it (only types with a handler).
SUPPORTED: dict[str, str] = _supported()


def data_type_of(message_type: str) -> str:
    """`ADT^A08` -> `ADT-00`, `OUL^R22` -> `OML-11`; "" when no handler reads that message type."""
    return SUPPORTED.get(message_type, "")


def check_message(text: str, key: str) -> tuple[str, str]:
    """The cheap part of `parse_message`: split, MSH-9 and PID-3, no records. Returns (data type or
    message type, patient id); raises MessageError like parse_message would for these problems."""
    msg, data_type, pid, _ = _prepare(text, key)
    return data_type or f"{msg.c(msg.segments[0], 9, 1)}^{msg.c(msg.segments[0], 9, 2)}", pid


def _prepare(text: str, key: str) -> tuple[Message, str, str, list[Defect]]:
    msg, framing = split_framed(text, key)
    msh = msg.segments[0]
    if not msg.c(msh, 9, 1):
        raise MessageError(Defect("truncated", key, "MSH", "MSH-9", "message type (MSH-9) is empty"))
    data_type = data_type_of(f"{msg.c(msh, 9, 1)}^{msg.c(msh, 9, 2)}")
    pid_seg = msg.first("PID")
    if pid_seg is None:
        raise MessageError(Defect("truncated", key, "PID", problem="no PID segment"))
    pid = msg.c(pid_seg, 3, 1)
    if not pid:
        raise MessageError(Defect("missing_field", key, "PID", "PID-3", "patient id (PID-3) is empty"))
    if not is_patient_id(pid):
        raise MessageError(bad_patient_id(key, "PID-3"))
    return msg, data_type, pid, framing


def parse_message(text: str, key: str, *, checks: bool = True, warnings: list[str] | None = None) -> MessageRecords:
    """Canonical records of one decoded HL7 v2 message; `key` names it in every defect."""
    msg, data_type, pid, framing = _prepare(text, key)
    msh = msg.segments[0]
    ctx = Ctx(key, Filing(care_date=_care_date(msg, data_type)), msg, pid, data_type, RecordStatus.CURRENT, framing)
    if checks:
        _checks.check_segments(ctx)
        _checks.check_fields(ctx)
    handler = HANDLERS.get(data_type)
    records = handler(ctx) if handler is not None else []
    found = [*(warnings or []), *(str(d) for d in ctx.defects)]
    if found:
        for r in records:
            r.warnings = list(found)
    message_type = f"{msg.c(msh, 9, 1)}^{msg.c(msh, 9, 2)}"
    version = source_version(msg.c(msh, 7, 1))
    return MessageRecords(records, pid, data_type or message_type, found, version)


def _care_date(msg: Message, data_type: str) -> str:
    if data_type == "ADT-00":
        return "-"  # patient basics are filed without a care date
    for seg_name, i in (("SPM", 17), ("OBR", 7), ("MSH", 7)):
        seg = msg.first(seg_name)
        value = msg.c(seg, i, 1)[:8] if seg is not None else ""
        if len(value) == 8 and value.isdigit():
            return value
    return "-"

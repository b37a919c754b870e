"""Result messages: OML-11 lab results (OUL^R22), OMG-13 physiology results (ORU^R01) and extended
storage vitals (ORU^R30), one Observation per OBX.

The OUL^R22 structure is PID PV1 {SPM {OBR [ORC] {OBX}}}: each OBX takes its specimen collection
time (SPM-17), its specimen (SPM, _specimen.py) and order number (ORC-2, else OBR-2) from the groups above it.
"""

from __future__ import annotations

from renkei.records import Coding, Observation, Record

from ._attachments import attached_document
from ._context import Ctx
from ._er7 import Segment
from ._specimen import specimen
from ._values import parse_dtm


def observation(
    ctx: Ctx, obx: Segment, order_no: str, fallback_time: str, index: int, spm: dict[str, str] | None = None
) -> Observation:
    m = ctx.msg
    code = Coding(m.c(obx, 3, 1), m.c(obx, 3, 2), m.c(obx, 3, 3))
    local = None
    alt = m.c(obx, 3, 4)
    if alt:
        local = Coding(alt, m.c(obx, 3, 5), m.c(obx, 3, 6))
    value_type = m.f(obx, 2)
    if value_type in ("CWE", "CE"):
        value = m.c(obx, 5, 2) or m.c(obx, 5, 1)
    elif value_type in ("NM", "ST", "TX", "FT", "TS", "DT", "SN", ""):
        value = m.f(obx, 5)
    else:  # XCN, ZRD … keep the components readable
        value = " ".join(p for p in m.comps(m.raw(obx, 5).split(m.rs, 1)[0]) if p)
    when = m.c(obx, 14, 1) or fallback_time
    measured = ctx.data_type == "OML-11" or value_type in ("NM", "SN")  # a lab result: full JLAC10
    ctx.check_code(code, f"OBX[{index}]" if index > 1 else "OBX", "OBX-3.1", result=measured)
    fact = [code.code or (local.code if local else "")]
    sub = m.f(obx, 4)
    if sub:
        fact.append(sub)
    if ctx.data_type == "EXT" and when:
        # Bedside vitals are taken several times a day and rarely carry an order number: the
        # measurement time tells one reading from the next.
        fact.append(when)
    return Observation(
        patient_id=ctx.pid,
        code=code,
        local_code=local,
        value=value,
        value_type=value_type,
        unit=m.c(obx, 6, 1),
        reference_range=m.f(obx, 7),
        abnormal_flag=m.f(obx, 8),
        effective=parse_dtm(when),
        result_status=m.f(obx, 11),
        order_no=order_no,
        specimen=dict(spm) if spm else {},
        record_key=ctx.record_key(order_no or ctx.name.order_no, *fact),
        status=ctx.status,
        source=ctx.key,
    )


def result(
    ctx: Ctx, obx: Segment, order_no: str, fallback_time: str, index: int, spm: dict[str, str] | None = None
) -> Record:
    """An Observation, or a Document for an ED (encapsulated data) / RP (reference pointer) OBX."""
    if ctx.msg.f(obx, 2) in ("ED", "RP"):
        return attached_document(ctx, obx, order_no, fallback_time, index)
    return observation(ctx, obx, order_no, fallback_time, index, spm)


def oml11(ctx: Ctx) -> list[Record]:
    m = ctx.msg
    out: list[Record] = []
    spm_time = obr_order = orc_order = ""
    spm: dict[str, str] = {}
    n_obx = n_spm = 0
    for seg in m.segments:
        name = seg[0]
        if name == "OBX":
            n_obx += 1
            out.append(result(ctx, seg, orc_order or obr_order, spm_time, n_obx, spm))
        elif name == "SPM":
            n_spm += 1
            spm_time = m.c(seg, 17, 1)
            spm = specimen(m, seg, n_spm)
            obr_order = orc_order = ""
        elif name == "OBR":
            obr_order = m.c(seg, 2, 1)
            orc_order = ""
        elif name == "ORC":
            orc_order = m.c(seg, 2, 1)
    return out


def oru(ctx: Ctx) -> list[Record]:
    """ORU^R01 (OMG-13) and ORU^R30 (extended vitals): OBX time OBX-14, else OBR-7; order OBR-2/ORC-2."""
    m = ctx.msg
    out: list[Record] = []
    obr_time = order = ""
    n_obx = 0
    for seg in m.segments:
        name = seg[0]
        if name == "OBX":
            n_obx += 1
            out.append(result(ctx, seg, order, obr_time, n_obx))
        elif name == "OBR":
            obr_time = m.c(seg, 7, 1)
            order = m.c(seg, 2, 1) or order
        elif name == "ORC":
            order = m.c(seg, 2, 1)
    return out

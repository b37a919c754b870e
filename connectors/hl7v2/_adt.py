"""ADT data types: encounter events (ADT-01/12/21/22/31/32/41/42/51/52), allergies (ADT-61 IAM and
ADT-00 AL1) and the patient's body measurements carried in ADT-00 OBX segments."""

from __future__ import annotations

from renkei.records import Allergy, Coding, Encounter, Record, RecordStatus

from ._checks import CANCEL_TRIGGERS
from ._context import Ctx
from ._kin import contacts, coverages
from ._patient import patient_from_pid
from ._results import observation
from ._values import parse_dtm

# data type -> (event, care-date segment, field)
EVENTS: dict[str, tuple[str, str, int]] = {
    "ADT-01": ("attending", "EVN", 6),
    "ADT-12": ("visit", "PV1", 44),
    "ADT-21": ("admission_planned", "PV2", 8),
    "ADT-22": ("admission", "PV1", 44),
    "ADT-31": ("leave", "EVN", 6),
    "ADT-32": ("return", "EVN", 6),
    "ADT-41": ("transfer_planned", "PV2", 9),
    "ADT-42": ("transfer", "EVN", 6),
    "ADT-51": ("discharge_planned", "PV2", 9),
    "ADT-52": ("discharge", "PV1", 45),
}


def is_cancel(ctx: Ctx) -> bool:
    return ctx.msg.c(ctx.msg.segments[0], 9, 2) in CANCEL_TRIGGERS


def encounter(ctx: Ctx) -> list[Record]:
    m = ctx.msg
    event, seg_name, field = EVENTS[ctx.data_type]
    seg = m.first(seg_name)
    when = m.c(seg, field, 1) if seg is not None else ""
    if not when:
        evn = m.first("EVN")
        when = (m.c(evn, 6, 1) or m.c(evn, 2, 1)) if evn is not None else ""
    pv1 = m.first("PV1")
    patient_class = department = location = attending = visit_number = admitted = ""
    if pv1 is not None:
        visit_number = m.c(pv1, 19, 1)
        admitted = m.c(pv1, 44, 1)
        patient_class = m.f(pv1, 2)
        department = m.c(pv1, 10, 1)
        location = "-".join(p for p in m.comps(m.raw(pv1, 3).split(m.rs, 1)[0])[:3] if p)
        attending = m.c(pv1, 7, 1)
    status = RecordStatus.DELETED if is_cancel(ctx) else ctx.status
    return [
        Encounter(
            patient_id=ctx.pid,
            event=event,
            occurred_at=parse_dtm(when),
            patient_class=patient_class,
            department=department,
            location=location,
            attending=attending,
            visit_number=visit_number,
            admitted_at=parse_dtm(admitted),
            record_key=ctx.record_key(ctx.name.order_no, event),
            status=status,
            source=ctx.key,
        )
    ]


def _allergy(ctx: Ctx, category: Coding, allergen: Coding, severity: str, reaction: str) -> Allergy:
    return Allergy(
        patient_id=ctx.pid,
        category=category,
        allergen=allergen,
        severity=severity,
        reaction=reaction,
        record_key=ctx.record_key(ctx.name.order_no, "allergy", allergen.code or allergen.display),
        status=ctx.status,
        source=ctx.key,
    )


def adt00(ctx: Ctx) -> list[Record]:
    """Patient basics plus what ADT^A08 carries beside PID: AL1 allergies, OBX height/weight/blood type."""
    out: list[Record] = []
    patient = patient_from_pid(ctx)
    if patient is None:
        return out
    if is_cancel(ctx):  # A23: delete patient basics
        patient.status = RecordStatus.DELETED
    m = ctx.msg
    patient.contacts, patient.coverages = contacts(m), coverages(m)  # NK1, IN1
    out.append(patient)
    # Body measurements in ADT-00 OBX rarely carry OBX-14; the event (EVN-2), else the message time
    # (MSH-7), is when they were recorded (JP Core VitalSigns/BodyMeasurement need effective[x]).
    evn = m.first("EVN")
    recorded = (m.c(evn, 2, 1) if evn is not None else "") or m.c(m.segments[0], 7, 1)
    n_obx = 0
    for seg in m.segments:
        if seg[0] == "AL1":
            out.append(_allergy(ctx, ctx.coding(seg, 2), ctx.coding(seg, 3), m.c(seg, 4, 1), m.f(seg, 5)))
        elif seg[0] == "OBX":
            n_obx += 1
            out.append(observation(ctx, seg, "", recorded, n_obx))
    return out


def adt61(ctx: Ctx) -> list[Record]:
    """ADT^A60 allergy list: one Allergy per IAM (category IAM-2, allergen IAM-3, severity IAM-4)."""
    m = ctx.msg
    out: list[Record] = []
    for seg in m.all("IAM"):
        status = RecordStatus.DELETED if m.c(seg, 6, 1) == "D" else ctx.status  # IAM-6 action code
        rec = _allergy(ctx, ctx.coding(seg, 2), ctx.coding(seg, 3), m.c(seg, 4, 1), m.f(seg, 5))
        rec.status = status
        out.append(rec)
    return out

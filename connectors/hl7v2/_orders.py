"""Order-shaped data types: problems (PPR-01), diet (OMD), prescriptions and injections (OMP-01/02),
their administration (OMP-11/12), specimen orders (OML-01), radiology/endoscopy/physiology orders
(OMG-01/02/03) and their performed reports (OMG-11/12).

Segments are walked once, in order; each group header (ORC, OBR) sets the context the segments under
it inherit, as the HL7 message structures define.
"""

from __future__ import annotations

from renkei.records import Coding, Condition, Medication, Order, Record, RecordStatus

from ._context import Ctx
from ._er7 import Segment
from ._values import parse_dt, parse_dtm

CATEGORY = {
    "OMD": "diet",
    "OML-01": "lab",
    "OMG-01": "radiology",
    "OMG-02": "endoscopy",
    "OMG-03": "physiology",
    "OMG-11": "radiology",
    "OMG-12": "endoscopy",
}


def ppr01(ctx: Ctx) -> list[Record]:
    """PRB: MEDIS disease (PRB-3, MDCDX2), ICD-10 (PRB-10), onset (PRB-16, else PRB-7), status (PRB-14).

    Modifiers (修飾語) come from the ZPR segment that follows the PRB: every coded repetition of ZPR-3 and
    ZPR-4 (prefix and suffix modifiers, JAHIS 病名情報). ZPR-2 repeats the disease and ZPR-5 holds its
    exchange code, neither of which is a modifier.
    """
    m = ctx.msg
    out: list[Condition] = []
    for seg in m.segments:
        if seg[0] == "PRB":
            code = ctx.coding(seg, 3)
            fact = m.c(seg, 4, 1) or code.code
            status = RecordStatus.DELETED if m.f(seg, 1) == "DE" else ctx.status
            out.append(
                Condition(
                    patient_id=ctx.pid,
                    code=code,
                    icd10=m.c(seg, 10, 1),
                    onset=parse_dt(m.c(seg, 16, 1)) or parse_dt(m.c(seg, 7, 1)),
                    clinical_status=m.c(seg, 14, 1),
                    record_key=ctx.record_key(ctx.name.order_no, "problem", fact),
                    status=status,
                    source=ctx.key,
                )
            )
        elif seg[0] == "ZPR" and out:
            for i in (3, 4):
                for rep in m.reps(seg, i):
                    c = [*m.comps(rep), "", "", ""]
                    if c[0]:
                        out[-1].modifiers.append(Coding(c[0], c[1], c[2]))
    return list(out)


def _timing(ctx: Ctx, tq1: Segment | None) -> tuple[str, str, str]:
    """TQ1-3 usage (JAMISDP01 code&text, else the repeat pattern), start TQ1-7, end TQ1-8."""
    if tq1 is None:
        return "", "", ""
    m = ctx.msg
    raw = m.raw(tq1, 3).split(m.rs, 1)[0].split(m.cs, 1)[0]
    subs = m.subs(raw)
    timing = subs[1] if len(subs) > 1 and subs[1] else subs[0]
    return timing, m.c(tq1, 7, 1), m.c(tq1, 8, 1)


def _usage_and_days(ctx: Ctx, tq1: Segment | None) -> tuple[Coding | None, str]:
    """(TQ1-3 usage as a coding when it names its system, TQ1-6 service duration when given in days)."""
    if tq1 is None:
        return None, ""
    m = ctx.msg
    subs = [*m.subs(m.raw(tq1, 3).split(m.rs, 1)[0].split(m.cs, 1)[0]), "", "", ""]
    usage = Coding(subs[0], subs[1], subs[2]) if subs[0] and subs[2] else None
    days = m.c(tq1, 6, 1) if m.c(tq1, 6, 2).lower() in ("d", "day", "days") else ""
    return usage, days


def omp_orders(ctx: Ctx) -> list[Record]:
    """RDE^O11: one Medication per RXE (OMP-01 prescription) or per RXC component (OMP-02 injection)."""
    m = ctx.msg
    activity = "prescription" if ctx.data_type == "OMP-01" else "injection"
    out: list[Medication] = []
    order_no = rp = route = authored = ""
    group: list[Medication] = []
    tq1: Segment | None = None
    rxe: Segment | None = None

    def finish() -> None:
        # The group's RXR comes before its RXC components (RDE^O11: ORC RXE TQ1 RXR RXC…), so the route
        # is applied to the whole group once it is complete.
        timing, start, end = _timing(ctx, tq1)
        usage, days = _usage_and_days(ctx, tq1)
        for place, med in enumerate(group, start=1):
            med.timing, med.start, med.end = timing, parse_dtm(start), parse_dtm(end)
            med.usage, med.supply_days, med.order_in_rp = usage, days, place
            med.route = med.route or route
        out.extend(group)
        group.clear()

    for seg in m.segments:
        name = seg[0]
        if name == "ORC":
            finish()
            order_no, rp, tq1, rxe, route = m.c(seg, 2, 1), m.c(seg, 4, 1), None, None, ""
            authored = m.c(seg, 9, 1)
        elif name == "TQ1" and tq1 is None:
            tq1 = seg
        elif name == "RXE":
            rxe = seg
            drug = ctx.coding(seg, 2)
            if activity == "prescription" or (drug.code and drug.system.startswith("HOT")):
                group.append(_med(ctx, activity, drug, m.f(seg, 3), (m.c(seg, 5, 1), m.c(seg, 5, 3)), order_no, rp))
                group[-1].authored_at = parse_dtm(authored)
        elif name == "RXR":
            route = route or m.c(seg, 1, 1)
        elif name == "RXC" and rxe is not None and activity == "injection":
            drug = ctx.coding(seg, 2)
            group.append(_med(ctx, activity, drug, m.f(seg, 3), (m.c(seg, 4, 1), m.c(seg, 4, 3)), order_no, rp))
            group[-1].authored_at = parse_dtm(authored)
    finish()
    return list(out)


def _med(
    ctx: Ctx, activity: str, drug: Coding, dose: str, unit: tuple[str, str], order_no: str, rp: str
) -> Medication:
    return Medication(
        patient_id=ctx.pid,
        activity=activity,
        drug=drug,
        dose=dose,
        dose_unit=unit[0],
        dose_unit_system=unit[1],
        order_no=order_no,
        rp_number=rp,
        record_key=ctx.record_key(order_no or ctx.name.order_no, rp, drug.code or drug.display),
        status=ctx.status,
        source=ctx.key,
    )


def omp_administration(ctx: Ctx) -> list[Record]:
    """RAS^O17: one Medication (administration) per RXA; RXA-3/4 start/end, route from the RXR after it.
    OMP-12 (injections) are `injection_administration`, so the FHIR side picks the injection profile."""
    m = ctx.msg
    activity = "injection_administration" if ctx.data_type == "OMP-12" else "administration"
    out: list[Medication] = []
    order_no = rp = ""
    pending: list[Medication] = []
    for seg in m.segments:
        name = seg[0]
        if name == "ORC":
            order_no, rp = m.c(seg, 2, 1), m.c(seg, 4, 1)
            pending = []
        elif name == "RXA":
            drug = ctx.coding(seg, 5)
            start = m.c(seg, 3, 1)
            med = Medication(
                patient_id=ctx.pid,
                activity=activity,
                drug=drug,
                dose=m.f(seg, 6),
                dose_unit=m.c(seg, 7, 1),
                start=parse_dtm(start),
                end=parse_dtm(m.c(seg, 4, 1)),
                order_no=order_no,
                record_key=ctx.record_key(order_no or ctx.name.order_no, rp, drug.code or drug.display, start),
                status=ctx.status,
                source=ctx.key,
            )
            out.append(med)
            pending.append(med)
        elif name == "RXR":
            for med in pending:
                med.route = med.route or m.c(seg, 1, 1)
            pending = []
    return list(out)


def orders(ctx: Ctx) -> list[Record]:
    """OMD, OML-01, OMG-01/02/03 (orders) and OMG-11/12 (performed): one Order per ORC group.

    The code is OBR-4 (ODS-3 for diet); the text joins what the group says in words: diet ODS-4, the
    requested tests' names (OML-01 OBX-3), findings (OBX-5 of TX/ST/CWE). OMG-11/12 take their time
    from OBR-7 (the performed date the data type defines) and have order_status "performed".
    """
    m = ctx.msg
    category = CATEGORY[ctx.data_type]
    performed = ctx.data_type in ("OMG-11", "OMG-12")
    out: list[Order] = []
    cur: Order | None = None
    texts: list[str] = []
    n_obx = 0

    def flush() -> None:
        if cur is not None:
            cur.text = "\n".join(t for t in texts if t)
        texts.clear()

    for seg in m.segments:
        name = seg[0]
        if name == "ORC":
            flush()
            order_no = m.c(seg, 2, 1)
            cur = Order(
                patient_id=ctx.pid,
                category=category,
                order_no=order_no,
                ordered_at=parse_dtm(m.c(seg, 9, 1)),
                order_status="performed" if performed else m.f(seg, 1),
                status=ctx.status,
                source=ctx.key,
            )
            out.append(cur)
        elif cur is None:
            continue
        elif name == "OBR":
            code = ctx.coding(seg, 4)
            cur.code = code if code.code or code.display else cur.code
            if performed and m.c(seg, 7, 1):
                cur.ordered_at = parse_dtm(m.c(seg, 7, 1))
        elif name == "ODS":
            cur.code = ctx.coding(seg, 3)
            texts.append(m.f(seg, 4))
        elif name == "OBX":
            n_obx += 1
            code = ctx.coding(seg, 3, result=ctx.data_type == "OML-01")
            if ctx.data_type == "OML-01":
                texts.append(code.display or code.code)
            elif m.f(seg, 2) in ("TX", "ST", "FT", "CWE", "CE"):
                value = m.c(seg, 5, 2) if m.f(seg, 2) in ("CWE", "CE") else m.f(seg, 5)
                texts.append(f"{code.display}: {value}" if code.display else value)
    flush()
    for order in out:
        fact = order.code.code if order.code else ""
        order.record_key = ctx.record_key(ctx.name.order_no, order.order_no, fact)
    return list(out)

"""SS-MIX2 only: the file name (care date, order number) against what the message says."""

from __future__ import annotations

from renkei.connectors.hl7v2 import CANCEL_TRIGGERS, MessageContext, is_dtm

from ._naming import NO_ORDER

# Where each data type keeps its care date (the date folder and the file name must agree with it).
CARE_DATE: dict[str, tuple[str, int]] = {
    "ADT-01": ("EVN", 6),
    "ADT-12": ("PV1", 44),
    "ADT-21": ("PV2", 8),
    "ADT-22": ("PV1", 44),
    "ADT-31": ("EVN", 6),
    "ADT-32": ("EVN", 6),
    "ADT-41": ("PV2", 9),
    "ADT-42": ("EVN", 6),
    "ADT-51": ("PV2", 9),
    "ADT-52": ("PV1", 45),
    "OMD": ("ORC", 9),
    "OMP-01": ("ORC", 9),
    "OMP-02": ("ORC", 9),
    "OMP-11": ("RXA", 3),
    "OMP-12": ("RXA", 3),
    "OML-01": ("ORC", 9),
    "OML-11": ("SPM", 17),
    "OMG-01": ("ORC", 9),
    "OMG-02": ("ORC", 9),
    "OMG-03": ("ORC", 9),
    "OMG-11": ("OBR", 7),
    "OMG-12": ("OBR", 7),
    "OMG-13": ("OBR", 7),
}


def check_name_against_content(ctx: MessageContext) -> None:
    """Care date and order number in the file name against the fields the data type defines."""
    m, sn = ctx.msg, ctx.name
    where = CARE_DATE.get(ctx.data_type)
    cancel = m.c(m.segments[0], 9, 2) in CANCEL_TRIGGERS
    if where is not None and sn.care_date not in ("", "-") and not cancel:
        seg_name, i = where
        seg = m.first(seg_name)
        value = m.c(seg, i, 1) if seg is not None else ""
        fld = f"{seg_name}-{i}"
        if not value:
            ctx.warn("missing_field", seg_name, fld, f"empty; {ctx.data_type} takes its care date from it")
        elif value[:8] != sn.care_date and is_dtm(value):
            ctx.warn(
                "care_date_mismatch", seg_name, fld, f"care date {value[:8]} but the file name says {sn.care_date}"
            )
    if sn.order_no and sn.order_no != NO_ORDER:
        # The name carries the order's placer number: the first ORC-2 (OBR-2 where there is no ORC).
        first = next((m.c(seg, 2, 1) for seg in m.segments if seg[0] == "ORC" and m.c(seg, 2, 1)), "")
        first = first or next((m.c(seg, 2, 1) for seg in m.segments if seg[0] == "OBR" and m.c(seg, 2, 1)), "")
        if first and first != sn.order_no:
            ctx.warn("order_no_mismatch", "ORC", "ORC-2", f"order number {first} but the file name says {sn.order_no}")
    # Within one order group ORC-2 and its OBR-2 name the same order.
    orc_no = ""
    n = 0
    for seg in m.segments:
        if seg[0] == "ORC":
            orc_no = m.c(seg, 2, 1)
        elif seg[0] == "OBR":
            n += 1
            obr_no = m.c(seg, 2, 1)
            if orc_no and obr_no and obr_no != orc_no and ctx.data_type != "OML-11":
                ctx.warn(
                    "order_no_mismatch", f"OBR[{n}]" if n > 1 else "OBR", "OBR-2",
                    f"order number {obr_no} differs from ORC-2 {orc_no} of its order group",
                )  # fmt: skip
            orc_no = ""

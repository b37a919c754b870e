"""Structural checks on a split message: the defects that leave a file usable but must be reported.

Each check appends Defects to the context; none raises. They are cheap (a pass over segment names and
a handful of fields), so they run on every file, not only under `renkei ssmix2 check`.
"""

from __future__ import annotations

import re

from ._context import Ctx
from ._values import parse_dtm

# MSH-9 message code^trigger each data type may carry (cancel triggers included).
MESSAGE_TYPES: dict[str, frozenset[str]] = {
    k: frozenset(v.split())
    for k, v in {
        "ADT-00": "ADT^A08 ADT^A23",
        "ADT-01": "ADT^A54 ADT^A55",
        "ADT-12": "ADT^A04 ADT^A11",
        "ADT-21": "ADT^A14 ADT^A27",
        "ADT-22": "ADT^A01 ADT^A11",
        "ADT-31": "ADT^A21 ADT^A52",
        "ADT-32": "ADT^A22 ADT^A53",
        "ADT-41": "ADT^A15 ADT^A26",
        "ADT-42": "ADT^A02 ADT^A12",
        "ADT-51": "ADT^A16 ADT^A25",
        "ADT-52": "ADT^A03 ADT^A13",
        "ADT-61": "ADT^A60",
        "PPR-01": "PPR^ZD1 PPR^PC1 PPR^PC2 PPR^PC3",
        "OMD": "OMD^O03",
        "OMP-01": "RDE^O11",
        "OMP-02": "RDE^O11",
        "OMP-11": "RAS^O17",
        "OMP-12": "RAS^O17",
        "OML-01": "OML^O33",
        "OML-11": "OUL^R22",
        "OMG-01": "OMG^O19",
        "OMG-02": "OMG^O19",
        "OMG-03": "OMG^O19",
        "OMG-11": "OMI^Z23",
        "OMG-12": "OMI^Z23",
        "OMG-13": "ORU^R01",
        "EXT": "ORU^R30 ORU^R01 MDM^T02",
    }.items()
}
CANCEL_TRIGGERS = frozenset(["A11", "A12", "A13", "A23", "A25", "A26", "A27", "A52", "A53", "A55"])

_COMMON = "MSH EVN PID PD1 NK1 PV1 PV2 DB1 NTE ZI1 IN1 IN2 AL1 OBX"
_ORDERS = "ORC TQ1 TQ2 OBR NTE OBX SPM SAC"
# Segments each message family may contain (HL7 v2.5 plus the JAHIS Z segments).
ALLOWED: dict[str, frozenset[str]] = {
    "ADT": frozenset(f"{_COMMON} ROL GT1 ACC UB1 UB2 PDA IAM".split()),
    "PPR": frozenset(f"{_COMMON} PRB ZPR ROL VAR GOL PTH ORC OBR".split()),
    "OMD": frozenset(f"{_COMMON} {_ORDERS} ODS ODT".split()),
    "RDE": frozenset(f"{_COMMON} {_ORDERS} RXE RXR RXC CTI".split()),
    "RAS": frozenset(f"{_COMMON} {_ORDERS} RXA RXR RXC RXO RXE CTI".split()),
    "OML": frozenset(f"{_COMMON} {_ORDERS} SAC".split()),
    "OUL": frozenset(f"{_COMMON} {_ORDERS} SID INV TCD".split()),
    "OMG": frozenset(f"{_COMMON} {_ORDERS} CTI IPC ZE1 ZE2".split()),
    "OMI": frozenset(f"{_COMMON} {_ORDERS} IPC ZE1 ZE2 CTI".split()),
    "ORU": frozenset(f"{_COMMON} {_ORDERS} CTI CTD FT1 ZE1 ZE2".split()),
    "MDM": frozenset(f"{_COMMON} TXA CON".split()),
}
# A segment that must directly follow one of these (within an order group).
MUST_FOLLOW: dict[str, frozenset[str]] = {
    "TQ1": frozenset(["ORC", "TQ1", "RXE", "RXO", "OBR"]),
    "RXR": frozenset(["RXE", "RXA", "RXR", "TQ1", "NTE"]),
    "RXC": frozenset(["RXR", "RXC"]),
}
_SEG_NAME = re.compile(r"[A-Z][A-Z0-9]{2}$")

# Fields that hold DTM/DT values: (segment, field index, component).
DATE_FIELDS: dict[str, tuple[int, ...]] = {
    "MSH": (7,),
    "EVN": (2, 6),
    "PID": (7,),
    "PV1": (44, 45),
    "ORC": (9,),
    "OBR": (7,),
    "RXA": (3, 4),
    "OBX": (14,),
    "SPM": (17,),
    "PRB": (2,),
}
SEX = frozenset(["M", "F", "O", "U", "A", "N"])
NAME_TYPES = frozenset(["L", "A", "D", "M", "N", "S", "C", "B", "P"])  # HL7 table 0200
XCN_FIELDS: dict[str, tuple[int, ...]] = {"PV1": (7, 8, 9, 17), "ORC": (10, 11, 12), "OBR": (16,), "RXA": (10,)}


def check_message_type(ctx: Ctx) -> None:
    msh = ctx.msg.segments[0]
    got = f"{ctx.msg.c(msh, 9, 1)}^{ctx.msg.c(msh, 9, 2)}"
    want = MESSAGE_TYPES.get(ctx.data_type)
    if want is not None and got not in want:
        ctx.warn(
            "data_type_mismatch",
            "MSH",
            "MSH-9",
            f"message type {got} does not carry data type {ctx.data_type} (expects {' or '.join(sorted(want))})",
        )
    charset = ctx.msg.f(msh, 18).replace(" ", "").lstrip("~").upper()
    if charset and charset not in ("ISOIR87", "ISOIR6~ISOIR87", "ISO2022-1994"):
        ctx.warn("bad_value", "MSH", "MSH-18", f"character set {charset!r} is not ~ISO IR87")
    seq = ctx.msg.f(msh, 13)
    if seq and not seq.isdigit():
        ctx.warn("bad_value", "MSH", "MSH-13", "sequence number is not numeric")


def check_segments(ctx: Ctx) -> None:
    m = ctx.msg
    family = ctx.msg.c(m.segments[0], 9, 1)
    allowed = ALLOWED.get(family)
    prev = "MSH"
    counts: dict[str, int] = {}
    seen_pid = False
    for seg in m.segments[1:]:
        name = seg[0]
        n = counts[name] = counts.get(name, 0) + 1
        label = f"{name}[{n}]" if n > 1 else name
        if not _SEG_NAME.match(name):
            ctx.warn("junk_segment", label, "", "not an HL7 segment (bad segment name)")
            continue
        if name == "MSH":
            ctx.warn("junk_segment", label, "", "a second MSH inside one file")
            continue
        if len(seg) == 1 or not any(seg[1:]):
            ctx.warn("junk_segment", label, "", "segment without any field")
            continue
        if allowed is not None and name not in allowed:
            ctx.warn("junk_segment", label, "", f"segment {name} has no place in {family} messages")
            continue
        if name == "PID":
            seen_pid = True
        elif name not in ("EVN",) and not seen_pid:
            ctx.warn("misordered_segment", label, "", f"{name} before PID")
        follow = MUST_FOLLOW.get(name)
        if follow is not None and prev not in follow:
            ctx.warn(
                "misordered_segment", label, "", f"{name} after {prev}; it belongs after {'/'.join(sorted(follow))}"
            )
        prev = name


def check_fields(ctx: Ctx) -> None:
    m = ctx.msg
    counts: dict[str, int] = {}
    for seg in m.segments:
        name = seg[0]
        n = counts[name] = counts.get(name, 0) + 1
        label = f"{name}[{n}]" if n > 1 else name
        for i in DATE_FIELDS.get(name, ()):
            value = m.c(seg, i, 1)
            if not value or parse_dtm(value) is not None:
                continue
            near = [j for j in (i - 1, i + 1) if j > 0 and is_dtm(m.c(seg, j, 1))]
            if near:
                ctx.warn("shifted_field", label, f"{name}-{i}", f"not a date/time; one sits in {name}-{near[0]}")
            else:
                ctx.warn("bad_value", label, f"{name}-{i}", "not a date/time")
        if name == "PID":
            sex = m.f(seg, 8)
            if sex and sex not in SEX:
                kind = "shifted_field" if is_dtm(sex) else "bad_value"
                ctx.warn(kind, label, "PID-8", "sex is not an HL7 table 0001 code")
            if not m.f(seg, 7) and is_dtm(m.c(seg, 9, 1)):
                ctx.warn("shifted_field", label, "PID-7", "birth date empty and a date sits in PID-9 (patient alias)")
        elif name == "OBX":
            value_type = m.f(seg, 2)
            if value_type == "NM" and m.f(seg, 5) and not _is_number(m.f(seg, 5)):
                ctx.warn("bad_value", label, "OBX-5", "value type NM but the value is not a number")
            elif value_type in TEXT_TYPES:
                _check_text(ctx, label, "OBX-5", m.raw(seg, 5))
        elif name == "NTE":
            _check_text(ctx, label, "NTE-3", m.raw(seg, 3))
        elif name == "PV1":
            referring = m.raw(seg, 8)
            department = ctx.name.department
            if referring and referring == department and not m.raw(seg, 10):
                ctx.warn(
                    "shifted_field", label, "PV1-8",
                    f"department {department!r} (as in the file name) sits in PV1-8 (referring doctor), not PV1-10",
                )  # fmt: skip
        if name in XCN_FIELDS:
            for i in XCN_FIELDS[name]:
                for rep in m.reps(seg, i):
                    c = rep.split(m.cs)
                    if len(c) > 10 and not c[9] and c[10:12] and any(x in NAME_TYPES for x in c[10:12]):
                        ctx.warn(
                            "shifted_field", label, f"{name}-{i}",
                            "name type code sits after XCN component 10: components shifted",
                        )  # fmt: skip
        if name in ("ORC", "OBR"):
            i = 2
            value = m.c(seg, i, 1)
            if value and len(value) != 15:
                ctx.warn(
                    "field_length",
                    label,
                    f"{name}-{i}",
                    f"order number has {len(value)} characters; the standard is 15",
                )


TEXT_TYPES = frozenset(["ST", "TX", "FT"])  # primitive text: a separator inside must be escaped (\S\, \T\)


def _check_text(ctx: Ctx, label: str, fld: str, raw: str) -> None:
    """ST/TX/FT values have no components: a bare component or subcomponent separator in one is a value
    the sender forgot to escape (the text is kept as it is, separators included)."""
    m = ctx.msg
    found = [f"{what} {sep!r}" for what, sep in (("component separator", m.cs), ("subcomponent separator", m.ss))
             if sep and sep in raw]  # fmt: skip
    if found:
        ctx.warn("unescaped_delimiter", label, fld, f"unescaped {' and '.join(found)} inside a text (ST/TX/FT) value")


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def is_dtm(value: str) -> bool:
    return len(value) >= 8 and value[:8].isdigit() and parse_dtm(value) is not None

"""Code shapes per Japanese coding system: a code that cannot belong to its system is flagged, never dropped.

    JC10    JLAC10 laboratory code: 17 characters (analyte 5, identification 4, specimen 3, method 3,
            result 2), letters and digits. A measured result (OBX-3 of a lab result) needs all 17;
            elsewhere (an ordered test in OBR-4, an allergen in AL1-3, an image report's OBX-3, as in the
            JAHIS samples) leading whole parts are accepted too: 5, 9, 12 or 15 characters
    YJ      YJ code (individual drug code): 12 characters, letters and digits
    HOT9    HOT code, 9 digits; HOT13 13 digits; HOT7 7 digits; HOT (unqualified) 9 or 13 digits
    MDCDX2  MEDIS standard disease master: 8-digit disease management number, or a 4-character exchange
            / modifier code (letters and digits)

A wrong length is a `field_length` defect (as the storage checks always called it), wrong characters a
`code_shape` defect. Systems not listed (local 99xxx tables, I10 …) are not checked.
"""

from __future__ import annotations

# system -> (allowed lengths, digits only, display name)
SHAPES: dict[str, tuple[tuple[int, ...], bool, str]] = {
    "JC10": ((17,), False, "JLAC10"),
    "YJ": ((12,), False, "YJ"),
    "HOT": ((9, 13), True, "HOT"),
    "HOT7": ((7,), True, "HOT7"),
    "HOT9": ((9,), True, "HOT9"),
    "HOT13": ((13,), True, "HOT13"),
    "MDCDX": ((8, 4), False, "MEDIS"),
    "MDCDX2": ((8, 4), False, "MEDIS"),
    "MDCDX3": ((8, 4), False, "MEDIS"),
}


def shape_problem(system: str, code: str, *, result: bool = False) -> tuple[str, str] | None:
    """(defect kind, problem) when `code` cannot be a code of `system`; None when it can or is not checked.
    `result`: the code names an observation result (OBX-3), where JLAC10 must have its result part."""
    shape = SHAPES.get(system)
    if shape is None or not code:
        return None
    lengths, digits, name = shape
    if system == "JC10" and not result:
        lengths = (17, 15, 12, 9, 5)
    if len(code) not in lengths:
        want = " or ".join(str(n) for n in lengths)
        return "field_length", f"{name} code {code!r} has {len(code)} characters; {name} has {want}"
    ok = code.isdigit() if digits else code.isascii() and code.isalnum()
    if not ok:
        what = "digits" if digits else "letters and digits"
        return "code_shape", f"{name} code {code!r} is not all {what}"
    if system.startswith("MDCDX") and len(code) == 8 and not code.isdigit():
        return "code_shape", f"{name} code {code!r}: an 8-character MEDIS code is a number"
    return None

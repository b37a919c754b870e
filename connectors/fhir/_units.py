"""Units as written by Japanese EHRs -> UCUM, for Quantity.system/code.

The original unit string always stays in Quantity.unit (what a clinician reads); `code` is only added
when the unit is known here, because a guessed UCUM code is worse than none.
"""

from __future__ import annotations

from typing import Any

from renkei.connectors.fhir._systems import UCUM

_UCUM = {
    "g/dl": "g/dL",
    "mg/dl": "mg/dL",
    "ug/dl": "ug/dL",
    "μg/dl": "ug/dL",
    "µg/dl": "ug/dL",
    "g/l": "g/L",
    "mg/l": "mg/L",
    "ng/ml": "ng/mL",
    "pg/ml": "pg/mL",
    "mmol/l": "mmol/L",
    "meq/l": "meq/L",
    "u/l": "U/L",
    "iu/l": "[IU]/L",
    "mu/l": "mU/L",
    "%": "%",
    "fl": "fL",
    "pg": "pg",
    "mmhg": "mm[Hg]",
    "mm[hg]": "mm[Hg]",
    "kpa": "kPa",
    "bpm": "/min",
    "/min": "/min",
    "回/分": "/min",
    "℃": "Cel",
    "°c": "Cel",
    "cel": "Cel",
    "°f": "[degF]",
    "kg": "kg",
    "g": "g",
    "lb": "[lb_av]",
    "cm": "cm",
    "kg/m2": "kg/m2",
    "l/min": "L/min",
    "x10^4/ul": "10*4/uL",
    "x10^3/ul": "10*3/uL",
    "10^4/μl": "10*4/uL",
    "x10^4/μl": "10*4/uL",
    "x10^6/ul": "10*6/uL",
    "mg": "mg",
    "ml": "mL",
}


def ucum(unit: str) -> str | None:
    return _UCUM.get(unit.strip().lower())


def quantity(value: int | float, unit: str) -> dict[str, Any]:
    q: dict[str, Any] = {"value": value}
    if unit:
        q["unit"] = unit
        code = ucum(unit)
        if code:
            q["system"] = UCUM
            q["code"] = code
    return q

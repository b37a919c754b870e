"""Units as written by Japanese EHRs -> UCUM, for Quantity.system/code (table: mappings/specs/codes/ucum_units.yaml).

The original unit string always stays in Quantity.unit (what a clinician reads); `code` is only added
when the unit is known here, because a guessed UCUM code is worse than none.
"""

from __future__ import annotations

from typing import Any

from renkei.connectors.fhir._codes import ucum
from renkei.connectors.fhir._systems import UCUM


def quantity(value: int | float, unit: str) -> dict[str, Any]:
    q: dict[str, Any] = {"value": value}
    if unit:
        q["unit"] = unit
        code = ucum(unit)
        if code:
            q["system"] = UCUM
            q["code"] = code
    return q

"""Turn one decoded device value into a canonical `Observation` (shared by 11073, GATT and serial).

`code` is the IEEE 11073 term (system "MDC", display = reference id); `value`/`unit` keep what the device
sent (exact decimal text, MDC unit reference id); `normalized_value`/`normalized_unit` add the value in a
common UCUM unit (kPa -> mm[Hg], lb/g -> kg, degF -> Cel, mmol/L -> mg/dL). Special values (NaN, NRes,
±INF) keep their name as `value`, get no normalised value and a flag. `patient_id` is left empty: the
bedside tap session assigns the patient, never the device.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from renkei.devices.mder import MderNumber
from renkei.devices.nomenclature import UNITS, term_name, unit_refid
from renkei.records import Coding, Observation

SPECIAL_FLAGS = {
    "NaN": "not-a-number",
    "NRes": "not-at-this-resolution",
    "+INF": "positive-infinity",
    "-INF": "negative-infinity",
    "reserved": "reserved-value",
}


def make_observation(
    code: int,
    value: MderNumber | Decimal | int | str,
    unit_code: int | None,
    *,
    unit_label: str | None = None,
    effective: datetime | None = None,
    device_id: str = "",
    flags: list[str] | None = None,
    source: str = "",
) -> Observation:
    """Build an Observation; `unit_label` overrides the unit text when there is no MDC unit code."""
    out_flags = list(flags or [])
    number = value if isinstance(value, MderNumber) else MderNumber.of(value, mantissa_bits=32)
    normalized: float | None = None
    norm_unit = ""
    unit = UNITS.get(unit_code) if unit_code is not None else None
    if number.special is not None:
        out_flags.append(SPECIAL_FLAGS[number.special])
    elif unit is not None:
        normalized = round(unit.normalize(float(number)), 6)
        norm_unit = unit.ucum
    if unit_label is not None:
        unit_text = unit_label
    elif unit_code is not None:
        unit_text = unit_refid(unit_code)
    else:
        unit_text = ""
    return Observation(
        patient_id="",
        code=Coding(code=str(code), display=term_name(code), system="MDC"),
        value=number.text,
        value_type="NM",
        unit=unit_text,
        effective=effective,
        normalized_value=normalized,
        normalized_unit=norm_unit,
        device_id=device_id,
        flags=out_flags,
        source=source,
    )

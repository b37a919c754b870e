"""Unit conversion with an explicit factor table (no general unit algebra, so every pair is reviewed).

A value v in `from` becomes v * factor + offset in `to`. Substance conversions (mg/dL ↔ mmol/L) depend
on the analyte's molar mass and so are keyed by analyte too. Factors:
  1 mmHg = 0.133322 kPa (1 kPa = 7.50062 mmHg); 1 lb = 0.45359237 kg (exact, international pound);
  °C = (°F − 32) × 5/9; glucose C6H12O6 180.156 g/mol → 1 mmol/L = 18.0156 mg/dL.
"""

from __future__ import annotations

from renkei.mappings.errors import MappingValueError

# Spellings seen in HL7 v2 OBX-6, UCUM and device nomenclature → one canonical spelling.
ALIASES: dict[str, str] = {
    "mg/dl": "mg/dL",
    "mg/dL": "mg/dL",
    "mmol/l": "mmol/L",
    "mmol/L": "mmol/L",
    "g/dl": "g/dL",
    "g/dL": "g/dL",
    "g/l": "g/L",
    "g/L": "g/L",
    "mmhg": "mmHg",
    "mmHg": "mmHg",
    "mm[Hg]": "mmHg",
    "kpa": "kPa",
    "kPa": "kPa",
    "kg": "kg",
    "g": "g",
    "lb": "lb",
    "lbs": "lb",
    "[lb_av]": "lb",
    "°C": "°C",
    "℃": "°C",
    "Cel": "°C",
    "degC": "°C",
    "°F": "°F",
    "℉": "°F",
    "[degF]": "°F",
    "degF": "°F",
}

_GLUCOSE_MG_PER_MMOL = 18.0156

# (from, to) -> (factor, offset)
FACTORS: dict[tuple[str, str], tuple[float, float]] = {
    ("kPa", "mmHg"): (7.50062, 0.0),
    ("mmHg", "kPa"): (0.133322, 0.0),
    ("lb", "kg"): (0.45359237, 0.0),
    ("kg", "lb"): (1 / 0.45359237, 0.0),
    ("g", "kg"): (0.001, 0.0),
    ("kg", "g"): (1000.0, 0.0),
    ("°F", "°C"): (5 / 9, -32 * 5 / 9),
    ("°C", "°F"): (9 / 5, 32.0),
    ("g/dL", "g/L"): (10.0, 0.0),
    ("g/L", "g/dL"): (0.1, 0.0),
}

# (analyte, from, to) -> factor
ANALYTE_FACTORS: dict[tuple[str, str, str], float] = {
    ("glucose", "mmol/L", "mg/dL"): _GLUCOSE_MG_PER_MMOL,
    ("glucose", "mg/dL", "mmol/L"): 1 / _GLUCOSE_MG_PER_MMOL,
}


def canonical_unit(unit: str) -> str:
    text = unit.strip()
    return ALIASES.get(text, ALIASES.get(text.lower(), text))


def convert_unit(value: float, source: str, target: str, analyte: str | None = None) -> float:
    src, dst = canonical_unit(source), canonical_unit(target)
    if src == dst:
        return value
    if analyte and (analyte, src, dst) in ANALYTE_FACTORS:
        return value * ANALYTE_FACTORS[(analyte, src, dst)]
    if (src, dst) in FACTORS:
        factor, offset = FACTORS[(src, dst)]
        return value * factor + offset
    hint = "" if analyte else " (substance units need `analyte`)"
    raise MappingValueError(f"no conversion from unit {src!r} to {dst!r}{hint}", value=value)

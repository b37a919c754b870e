"""Turn one decoded device value into a canonical `Observation` (shared by 11073, GATT and serial).

What a device reading's fields mean (the contract the bedside session layer acts on):

- `code`: the IEEE 11073 term, system "MDC", display = reference id. SCADA terms keep their 16-bit code
  ("19384"); terms of other partitions (health & fitness, disease management) use the 32-bit
  context-free code (partition << 16 | term) so two partitions never share a code. A term outside the
  tables keeps its code and is named by partition (`MDC_PART_SCADA:57999`), never dropped. A metric
  with a modality (10404 fast-response SpO2: supplemental type MDC_MODALITY_FAST) is a distinct metric:
  code "19384/19508", display "MDC_PULS_OXIM_SAT_O2/MDC_MODALITY_FAST", flag `modality:fast`.
- `value`: the exact decimal text the device sent ("60.0"), or "" when the reading carries NO usable
  number. `normalized_value` is then None as well. A reading has no usable number when:
  * the value is an SFLOAT/FLOAT special value: flag `not-a-number` (NaN), `not-at-this-resolution`
    (NRes), `positive-infinity` (+INF), `negative-infinity` (-INF) or `reserved-value`, plus
    `special:<name>` (`special:NaN`, `special:NRes`, `special:+INF`, `special:-INF`, `special:reserved`);
  * its 20601 Measurement-Status has any of the bits in `WITHHOLDING_STATUS`: the flag is the bit's name
    (`invalid`, `questionable`, `not-available`, `calibration-ongoing`, `test-data`, `demo-data`,
    `early-indication`, `msmt-ongoing`). `validated-data` is carried as a flag and keeps the value.
  `no_value_reason(obs)` returns the first such flag (None for an ordinary value): a session must refuse or
  hold such a reading, never post it as a number.
- `unit`: the MDC unit reference id as sent (or a serial device's own unit text); `normalized_unit` the
  UCUM unit of `normalized_value` (kPa -> mm[Hg], lb/g -> kg, degF -> Cel, mmol/L -> mg/dL, in -> cm).
- `effective`: the device's time of the measurement. Naive = device-local wall time (the caller's
  device time zone applies); aware when the device said its offset (base-offset time) or the decoder was
  given the device's zone. None when the device sent no time.
- `flags` may also carry `label:<text>`: the device's own label (MDC_ATTR_ID_LABEL_STRING) of a metric,
  kept for private/unknown terms so a person can tell what it is.
- `patient_id` is left empty: the bedside tap session assigns the patient, never the device.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from renkei.devices.mder import MderNumber
from renkei.devices.nomenclature import MDC_PART_SCADA, UNITS, mdc_cf_code, term_name, unit_refid
from renkei.records import Coding, Observation

SPECIAL_FLAGS = {
    "NaN": "not-a-number",
    "NRes": "not-at-this-resolution",
    "+INF": "positive-infinity",
    "-INF": "negative-infinity",
    "reserved": "reserved-value",
}

# Measurement-Status bits (20601 §A.7.4.2) whose value must never be used as a number
WITHHOLDING_STATUS = (
    "invalid",
    "questionable",
    "not-available",
    "calibration-ongoing",
    "test-data",
    "demo-data",
    "early-indication",
    "msmt-ongoing",
)
NO_VALUE_FLAGS = frozenset(WITHHOLDING_STATUS) | frozenset(SPECIAL_FLAGS.values())


def no_value_reason(obs: Observation) -> str | None:
    """The flag that makes this reading carry no usable number (special value or status bit), else None."""
    return next((f for f in obs.flags if f in NO_VALUE_FLAGS), None)


def metric_code(code: int, partition: int = MDC_PART_SCADA, modality: int | None = None) -> Coding:
    """The Coding of a metric: SCADA keeps the 16-bit code, other partitions the context-free code."""
    text = str(code) if partition == MDC_PART_SCADA else str(mdc_cf_code(partition, code))
    display = term_name(code, partition)
    if modality is not None:
        text, display = f"{text}/{modality}", f"{display}/{term_name(modality)}"
    return Coding(code=text, display=display, system="MDC")


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
    partition: int = MDC_PART_SCADA,
    modality: int | None = None,
) -> Observation:
    """Build an Observation; `unit_label` overrides the unit text when there is no MDC unit code."""
    out_flags = list(flags or [])
    number = value if isinstance(value, MderNumber) else MderNumber.of(value, mantissa_bits=32)
    normalized: float | None = None
    norm_unit = ""
    unit = UNITS.get(unit_code) if unit_code is not None else None
    text = number.text
    if number.special is not None:
        out_flags += [SPECIAL_FLAGS[number.special], f"special:{number.special}"]
        text = ""
    elif any(f in WITHHOLDING_STATUS for f in out_flags):
        text = ""  # the device itself says this number is not a measurement to use
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
        code=metric_code(code, partition, modality),
        value=text,
        value_type="NM",
        unit=unit_text,
        effective=effective,
        normalized_value=normalized,
        normalized_unit=norm_unit,
        device_id=device_id,
        flags=out_flags,
        source=source,
    )

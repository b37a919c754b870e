"""The code tables of the FHIR output, read from the shipped mapping specs (mappings/specs/codes/*.yaml).

One table per mapping, shared with the level-4 specs (observation_to_fhir_r4b …), so the FHIR connector
and a mapping spec can never disagree again:

    hl7_result_status_to_fhir   OBX-11 (table 0085) → Observation.status   (v2-to-FHIR ConceptMap)
    hl7_abnormal_flag_to_fhir   OBX-8 (table 0078)  → Observation.interpretation
    hl7_allergy_type_to_fhir    AL1-2 (table 0127)  → AllergyIntolerance.category / type (v2-to-FHIR)
    v2_coding_system_to_fhir    CWE-3 names          → CodeSystem URIs (JP Core aliases)
    ucum_units                  OBX-6 spellings      → UCUM codes

Errors name the table and the HL7 field, never the value (a mis-shifted field can carry patient data).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from renkei.errors import InputError
from renkei.mappings import library
from renkei.mappings.errors import MappingValueError


def _entries(name: str) -> dict[str, Any]:
    return library().table(name).entries


def observation_status(result_status: str, *, device_reading: bool = False) -> str:
    """FHIR Observation.status for an OBX-11 code; InputError for a code outside HL7 table 0085.

    An empty OBX-11 is `unknown` (what the spec's `default` says), except for a device reading: a
    measurement the device itself reported is final.
    """
    code = result_status.strip().upper()
    if not code:
        return "final" if device_reading else "unknown"
    try:
        return str(library().table("hl7_result_status_to_fhir").lookup(code))
    except MappingValueError:
        raise InputError("fhir: Observation: OBX-11 result status is not a code of HL7 table 0085") from None


def interpretation(flag: str) -> dict[str, str] | None:
    """{code, display} of v3 ObservationInterpretation for an OBX-8 flag, None when not in table 0078."""
    entry = _entries("hl7_abnormal_flag_to_fhir").get(flag.strip().upper())
    return dict(entry) if isinstance(entry, dict) else None


def allergy_type(v2_type: str) -> tuple[str | None, str | None]:
    """(category, type) of AllergyIntolerance for an AL1-2 code; None where the ConceptMap has no match."""
    entry = _entries("hl7_allergy_type_to_fhir").get(v2_type.strip().upper()) or {}
    return entry.get("category"), entry.get("type")


@cache
def coding_systems() -> dict[str, str]:
    return {str(k): str(v) for k, v in _entries("v2_coding_system_to_fhir").items()}


@cache
def _ucum_folded() -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in _entries("ucum_units").items()}


def ucum(unit: str) -> str | None:
    """The UCUM code for a unit as written (exact spelling first, then case-insensitive), or None."""
    text = unit.strip()
    found = _entries("ucum_units").get(text)
    return str(found) if found is not None else _ucum_folded().get(text.lower())


MDC_SCADA_PARTITION = 2  # IEEE 11073-10101 partition of the measurement terms devices report


def mdc_context_free(code: str) -> str:
    """The 32-bit context-free MDC code for a 16-bit SCADA term (18949 → 150021); other codes unchanged."""
    if code.isdigit() and int(code) < 0x10000:
        return str(MDC_SCADA_PARTITION << 16 | int(code))
    return code


def observation_kind(system: str, code: str) -> tuple[str, str]:
    """(kind, second category code) from jpcore_observation_kind.yaml; ("", "") when the code is not listed.

    `system` is the HL7 v2 coding-system name (JC10, MDC); an MDC code is looked up in its 32-bit form.
    """
    system = system.upper()
    if system == "JC10":
        key = f"JC10:{code[:5]}"
    elif system in ("MDC", "IEEE11073"):
        key = f"MDC:{mdc_context_free(code)}"
    else:
        return "", ""
    entry = _entries("jpcore_observation_kind").get(key) or {}
    return str(entry.get("kind", "")), str(entry.get("category", ""))


def condition_outcome(prb14: str) -> tuple[str, bool]:
    """(clinicalStatus, whether the code is an HL7 table 0241 code) for a PRB-14 outcome."""
    code = prb14.strip().upper()
    entries = _entries("hl7_outcome_to_fhir")
    return str(entries.get(code, library().table("hl7_outcome_to_fhir").default)), code in entries

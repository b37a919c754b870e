"""Code-value checks that fhir.resources cannot make.

fhir.resources validates structure and primitive formats, but a `code` is any token to it: gender "bogus"
or a 12-character JLAC10 code pass. These checks look at the values in a produced resource and return
problems as (FHIRPath-ish location, reason). Reasons never carry the value itself, only its shape, because
a mis-shifted field can put patient data where a code should be.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from renkei.connectors.fhir import _systems as S

# JLAC10 17 characters: analyte 5, identification 4, material 3, method 3, result-identification 2.
_JLAC10 = re.compile(r"[0-9][0-9A-Z]{4}[0-9A-Z]{4}[0-9]{3}[0-9A-Z]{3}[0-9]{2}")
_HOT9 = re.compile(r"[0-9]{9}")
_MEDIS_DISEASE = re.compile(r"[0-9]{8}")
_MEDIS_MODIFIER = re.compile(r"[0-9A-Z]{4}")
_ICD10 = re.compile(r"[A-Z][0-9]{2}(\.?[0-9A-Z]{1,4})?")
_FACILITY_SYSTEM = re.compile(re.escape(S.PATIENT_ID_OID_PREFIX) + r"[0-9]{10}")
_SHAPES = {
    S.JLAC10: (_JLAC10, "JLAC10 needs 17 characters: 5 analyte, 4 id, 3 material digits, 3 method, 2 digits"),
    S.HOT9: (_HOT9, "HOT9 needs 9 digits"),
    S.MEDIS_DISEASE: (_MEDIS_DISEASE, "MEDIS disease management number needs 8 digits"),
    S.MEDIS_MODIFIER: (_MEDIS_MODIFIER, "MEDIS modifier exchange code needs 4 characters"),
    S.ICD10_JP: (_ICD10, "ICD-10 needs a letter and 2 digits, then up to 4 more"),
}
GENDERS = {"male", "female", "other", "unknown"}
_VALUE_SETS = {
    "gender": GENDERS,
    "Observation.status": {
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    },
}


def _codings(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "system" in node and "code" in node and isinstance(node.get("code"), str):
            yield path, node
        for key, value in node.items():
            yield from _codings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _codings(value, f"{path}[{i}]")


def check_codes(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems with the code values of one FHIR resource (empty when all is well)."""
    rtype = resource.get("resourceType", "?")
    problems: list[tuple[str, str]] = []
    for path, coding in _codings(resource, rtype):
        system, code = coding.get("system", ""), coding["code"]
        shape = _SHAPES.get(system)
        if shape and not shape[0].fullmatch(code):
            problems.append((f"{path}.code", f"{shape[1]} (got {len(code)} characters)"))
        if system == S.UCUM and not code:
            problems.append((f"{path}.code", "UCUM code is empty"))
    if rtype == "Patient":
        if "gender" in resource and resource["gender"] not in GENDERS:
            problems.append(("Patient.gender", "not in administrative-gender (male|female|other|unknown)"))
        for i, ident in enumerate(resource.get("identifier", [])):
            system = ident.get("system", "")
            if system.startswith(S.PATIENT_ID_OID_PREFIX) and not _FACILITY_SYSTEM.fullmatch(system):
                problems.append((f"Patient.identifier[{i}].system", "facility code must be 10 digits"))
            if not ident.get("value"):
                problems.append((f"Patient.identifier[{i}].value", "empty patient id"))
        for i, name in enumerate(resource.get("name", [])):
            reps = [e.get("valueCode") for e in name.get("extension", []) if e.get("url") == S.EN_REPRESENTATION]
            if any(r not in ("IDE", "SYL", "ABC") for r in reps):
                problems.append((f"Patient.name[{i}].extension", "EN representation must be IDE, SYL or ABC"))
    if rtype == "Observation" and resource.get("status") not in _VALUE_SETS["Observation.status"]:
        problems.append(("Observation.status", "not in observation-status"))
    return problems

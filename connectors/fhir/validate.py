"""Checking produced resources: structure with fhir.resources R4B models, code values with _checks.

Why R4B: JP Core is built on FHIR R4 (4.0.1), and fhir.resources 8 ships R5 (default), R4B and STU3 but
no R4. R4B (4.3.0) kept R4's resource shapes for the resources renkei writes (Patient, Observation,
Condition, AllergyIntolerance, MedicationRequest/Administration, Encounter, DocumentReference,
ServiceRequest, Communication, CareTeam, Bundle) while R5 renamed or moved fields those profiles use
(e.g. Encounter.class became a list, MedicationRequest.medication a CodeableReference). So R4B catches
wrong structure without flagging valid R4. It does not check code values against value sets, hence
`check_codes`, nor JP Core profile rules, hence `profile_problems` (a rule table shipped as data).

Error texts name the resource type, the element path and the rule, never the offending value.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import ValidationError

from renkei.connectors.fhir._checks import check_codes
from renkei.connectors.fhir._rules import profile_problems
from renkei.errors import InputError


class FhirValidationError(InputError):
    """A produced (or received) resource is not valid FHIR, or carries ill-shaped codes."""

    def __init__(self, resource_type: str, problems: list[tuple[str, str]]) -> None:
        self.resource_type = resource_type
        self.problems = problems
        listed = "; ".join(f"{where}: {why}" for where, why in problems[:10])
        more = f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"fhir: invalid {resource_type}: {listed}{more}")


@cache
def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource_type)


def structure_problems(resource: dict[str, Any]) -> list[tuple[str, str]]:
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return [("resourceType", "missing")]
    try:
        model = _model(rtype)
    except KeyError:
        return [("resourceType", "unknown resource type")]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        out = []
        for err in exc.errors(include_input=False, include_url=False, include_context=False):
            where = rtype + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
            out.append((where, err["msg"]))
        return out
    return []


def check_resource(resource: dict[str, Any]) -> None:
    """Raise FhirValidationError unless the resource is valid R4B structure with well-shaped codes that
    keeps the JP Core rules of the profiles it claims (connectors/fhir/_rules.py)."""
    problems = structure_problems(resource) + check_codes(resource) + profile_problems(resource)
    if problems:
        raise FhirValidationError(str(resource.get("resourceType", "?")), problems)

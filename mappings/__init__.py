"""Level 4: the declarative mapping engine and the shipped mapping specs.

    from renkei.mappings import load_mapping

    mapping = load_mapping("patient_to_sns_profile")          # parsed, checked and compiled once
    payload = mapping.apply(patient, context={"at": "2024-04-01"})

The spec language is documented in `mappings/LANGUAGE.md`; shipped specs live in `mappings/specs/`.
"""

from renkei.mappings._engine import Mapping
from renkei.mappings._fixtures import CaseResult, run_fixtures
from renkei.mappings._library import BUILTIN_DIR, Library, apply, library, load_mapping
from renkei.mappings.errors import (
    MappingError,
    MappingNotFoundError,
    MappingSpecError,
    MappingValidationError,
    MappingValueError,
)

__all__ = [
    "BUILTIN_DIR",
    "CaseResult",
    "Library",
    "Mapping",
    "MappingError",
    "MappingNotFoundError",
    "MappingSpecError",
    "MappingValidationError",
    "MappingValueError",
    "apply",
    "library",
    "load_mapping",
    "run_fixtures",
]

"""Pieces of the JP Core conversion that need no converter state: numbers, names, profile choice."""

from __future__ import annotations

import re
from typing import Any

from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._codes import observation_kind
from renkei.records import Coding

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)$")


def number(text: str) -> int | float | None:
    """A JSON number for a decimal string, or None; ints stay ints so "72" does not become 72.0."""
    text = text.strip()
    if not _NUMBER.match(text):
        return None
    return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)


def split_name(full: str) -> tuple[str, str]:
    """ "患者 太郎" or "患者　太郎" -> ("患者", "太郎"); a name without a space is all family name."""
    parts = full.replace("\u3000", " ").split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def category_concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def observation_profile(system: str, code: str) -> tuple[str, list[dict[str, Any]]]:
    """JP Core profile and category list (JP_SimpleObservationCategory_CS first) for an observation code."""
    kind, second = observation_kind(system, code)
    if kind == "vital-signs":
        return S.PROFILE["Observation.vital"], [
            category_concept(S.SIMPLE_OBS_CATEGORY, "vital-signs"),
            *([category_concept(S.VITAL_SIGNS_CATEGORY, second)] if second else []),
        ]
    if kind == "body-measurement":
        return S.PROFILE["Observation.body"], [
            category_concept(S.SIMPLE_OBS_CATEGORY, "body-measurement"),
            *([category_concept(S.BODY_MEASUREMENT_CATEGORY, second)] if second else []),
        ]
    profile = S.PROFILE["Observation.lab"] if system == "JC10" and not kind else S.PROFILE["Observation.common"]
    return profile, [category_concept(S.SIMPLE_OBS_CATEGORY, "laboratory")]


def medis_modifier(mod: Coding) -> Coding:
    # ZPR modifiers come as MDCDX2 in SS-MIX2 but are modifier exchange codes, not disease numbers.
    if mod.system.upper() in ("MDCDX2", "") and len(mod.code) == 4:
        return Coding(mod.code, mod.display, S.MEDIS_MODIFIER)
    return mod

"""Privacy rules bound to destinations and data categories (consent scopes, data minimisation).

A destination has a purpose (`timeline` for a timeline, `external` for any other, or what the config's
`privacy.destinations.<name>.purpose` says): the patient's consent must name it (or `all`). What a
delivery carries has data categories (demographics, labs, vitals, documents, notes …, from its records'
kinds): each must be both named by the consent (when it names any category) and taken by the destination
(when its config lists categories). A delivery of canonical records (`{"patient_id", "data_type",
"records"}`) loses the records it may not carry and, per record kind, every field the destination's
`fields` does not keep; an opaque payload (a timeline post's text, a level-4 mapping's output) goes
whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from renkei.config.schema import (
    DATA_CATEGORIES,
    PURPOSE_EXTERNAL,
    PURPOSE_TIMELINE,
    DestinationPrivacy,
    PrivacyConfig,
)

ALL = "all"
# Kept in every record, whatever a destination's `fields` say: what the record is and whose.
STRUCTURAL_FIELDS = frozenset({"kind", "patient_id", "record_key", "status"})

_KIND_CATEGORY = {
    "patient": "demographics",
    "encounter": "encounters",
    "condition": "conditions",
    "allergy": "allergies",
    "medication": "medications",
    "order": "orders",
    "document": "documents",
    "note": "notes",
}


def category_of(record: dict[str, Any]) -> str:
    """The data category of one canonical record (as a dict). Observations from a device, or coded in IEEE
    11073 MDC as a nurse's reported vitals are (the way back), are vitals, others labs; an unknown kind is
    its own category, which no consent naming categories covers."""
    kind = str(record.get("kind", ""))
    if kind == "observation":
        code = record.get("code")
        mdc = isinstance(code, dict) and str(code.get("system", "")).upper() in ("MDC", "IEEE11073")
        return "vitals" if record.get("device_id") or mdc else "labs"
    return _KIND_CATEGORY.get(kind, kind or "unknown")


def categories_of(records: Iterable[dict[str, Any]]) -> frozenset[str]:
    return frozenset(category_of(r) for r in records)


def consented_categories(scope: Iterable[str]) -> frozenset[str] | None:
    """The categories a consent scope names, or None when it covers every category (`all`, or none named)."""
    tokens = set(scope)
    if ALL in tokens:
        return None
    named = frozenset(tokens & DATA_CATEGORIES)
    return named or None


@dataclass(slots=True, frozen=True)
class DestinationRule:
    name: str
    purpose: str
    categories: frozenset[str] | None  # None: every category
    fields: dict[str, frozenset[str]] | None  # per record kind; None: every field


def destination_rule(config: PrivacyConfig, name: str, is_timeline: bool) -> DestinationRule:
    d = config.destinations.get(name) or DestinationPrivacy()
    purpose = d.purpose or (PURPOSE_TIMELINE if is_timeline else PURPOSE_EXTERNAL)
    fields = {k: frozenset(v) | STRUCTURAL_FIELDS for k, v in d.fields.items()} if d.fields is not None else None
    return DestinationRule(name, purpose, frozenset(d.categories) if d.categories is not None else None, fields)


def allowed(consented: frozenset[str] | None, rule: DestinationRule) -> frozenset[str] | None:
    """Categories that may go: the consent's and the destination's (None: no limit from either)."""
    if consented is None:
        return rule.categories
    return consented if rule.categories is None else consented & rule.categories


def is_records_payload(payload: dict[str, Any]) -> bool:
    records = payload.get("records")
    return isinstance(records, list) and all(isinstance(r, dict) and "kind" in r for r in records)


def minimise(payload: dict[str, Any], may: frozenset[str] | None, rule: DestinationRule) -> dict[str, Any] | None:
    """A canonical-records payload with only the records (categories) and fields that may go; None when
    no record is left. The payload given is not changed."""
    records = [r for r in payload["records"] if may is None or category_of(r) in may]
    if not records:
        return None
    if rule.fields is not None:
        records = [_kept_fields(r, rule.fields) for r in records]
    return {**payload, "records": records}


def _kept_fields(record: dict[str, Any], fields: dict[str, frozenset[str]]) -> dict[str, Any]:
    keep = fields.get(str(record.get("kind")))
    return dict(record) if keep is None else {k: v for k, v in record.items() if k in keep}


def category_refusal(person: str, outside: Iterable[str], rule: DestinationRule, by_consent: bool) -> str:
    names = ", ".join(sorted(outside))
    if by_consent:
        return f"patient {person}'s consent does not cover {names} data (gate: consent)"
    return f"destination {rule.name} does not take {names} data (privacy.destinations.{rule.name}.categories)"

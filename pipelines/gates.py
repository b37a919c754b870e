"""Gates checked just before anything is handed to a destination, for every delivery, every time.

- consent: nothing flows for a patient (a person in the registry) without granted consent in the
  pipeline's scope and the destination's purpose (`timeline`, `external` …); withdrawing consent stops
  what is still queued. Data categories and fields are limited per consent and destination (privacy.py).
- linked group: a timeline post goes only to the group the registry links to that person on that
  timeline. A post for an audience (docs/teams.md) goes only to a timeline that can restrict it
  (`supports_audiences`). A person with no group there yet gets one created by the timeline and linked at once
  (`gates.auto_link`), so every post lands in a group the registry knows is theirs.

A refusal is a RefusedError: the delivery goes DEAD (nothing reaches the destination) with the reason,
the refusal is audited, and `renkei reprocess` sends it once the reason is gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from renkei.config.schema import GatesConfig, PipelineConfig, PrivacyConfig
from renkei.connectors.base import Timeline
from renkei.errors import PermanentDeliveryError, RefusedError
from renkei.pipelines import privacy
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.registry import Consent, PatientRegistry
from renkei.pipelines.store import DueDelivery, Store

PUSH_PIPELINE = "push"


class Gates:
    def __init__(
        self,
        store: Store,
        pipelines: dict[str, PipelineConfig],
        privacy_config: PrivacyConfig | None = None,
        push_gates: GatesConfig | None = None,
    ) -> None:
        self.store = store
        self.registry = PatientRegistry(store)
        self.pipelines = pipelines
        self.privacy = privacy_config or PrivacyConfig()
        self.push_gates = push_gates or GatesConfig()

    def _settings(self, pipeline: str) -> tuple[GatesConfig, str | None]:
        p = self.pipelines.get(pipeline)
        if p is None:
            return (self.push_gates if pipeline == PUSH_PIPELINE else GatesConfig()), None
        return p.gates, p.source

    def prepare(self, dest_name: str, dest: Any, items: list[DueDelivery]) -> list[dict[str, Any] | Exception]:
        """Per item: the payload to deliver (with the linked group for a timeline), the refusal
        (RefusedError), or why the patient's group could not be made ready (any other exception: the
        timeline failed, e.g. its server is down; the engine retries that delivery with backoff)."""
        persons: dict[tuple[str | None, str], str] = {}
        by_source: dict[str | None, list[str]] = {}
        for d in items:
            by_source.setdefault(self._settings(d.pipeline)[1], []).append(d.patient_id)
        for source, pids in by_source.items():
            resolved = self.registry.persons_of_patients(source, pids) if source else {p: p for p in pids}
            persons.update({(source, pid): person for pid, person in resolved.items()})
        all_persons = list(set(persons.values()))
        consents = self.registry.consents(all_persons)
        is_timeline = isinstance(dest, Timeline)
        system = f"timeline:{dest_name}"
        groups = self.registry.linked_values(all_persons, system) if is_timeline else {}
        unready = self._link_new_groups(dest_name, dest, items, persons, consents, groups) if is_timeline else {}
        out: list[dict[str, Any] | Exception] = []
        refusals: list[AuditEntry] = []
        rule = privacy.destination_rule(self.privacy, dest_name, is_timeline)
        records = _MessageRecords(self.store, items)
        for d in items:
            gates, source = self._settings(d.pipeline)
            person = persons[(source, d.patient_id)]
            consent = consents.get(person)
            reason = self._refusal(gates, person, consent)
            if not reason and gates.consent:  # the destination's purpose, e.g. `external` for a webhook
                reason = consent_refusal(person, consent, (rule.purpose,))
            payload: dict[str, Any] | None = d.payload
            if not reason:
                payload, reason = self._minimised(d, person, consent if gates.consent else None, rule, records)
            if reason or payload is None:
                refusals.append(AuditEntry("gate.refused", person, f"delivery:{d.id}", f"{dest_name}: {reason}"))
                out.append(RefusedError(reason))
                continue
            if not is_timeline:
                out.append(payload)
                continue
            group = groups.get(person)
            if person in unready:
                out.append(unready[person])
                continue
            if group is None:
                reason = f"patient {person} is not linked to a group on timeline {dest_name}"
                refusals.append(AuditEntry("gate.refused", person, f"delivery:{d.id}", reason))
                out.append(RefusedError(reason))
                continue
            audience = payload.get("audience") or "team"
            if audience != "team" and not getattr(dest, "supports_audiences", False):
                # a timeline that cannot keep a post from the rest of the team never gets one that must be
                reason = f"timeline {dest_name} cannot restrict a post to an audience ({audience}) (docs/teams.md)"
                refusals.append(AuditEntry("gate.refused", person, f"delivery:{d.id}", reason))
                out.append(RefusedError(reason))
                continue
            out.append({**payload, "group_id": group})
        if refusals:
            self.store.audit(refusals)
        return out

    def _link_new_groups(
        self,
        dest_name: str,
        dest: Any,
        items: list[DueDelivery],
        persons: dict[tuple[str | None, str], str],
        consents: dict[str, Any],
        groups: dict[str, str],
    ) -> dict[str, Exception]:
        """Persons who may receive (consent given, auto_link on) but have no group yet get one, linked.
        Returns, per person whose group could not be made, why: that person's deliveries fail alone."""
        wanted: dict[str, str] = {}  # person -> a patient id of theirs, for the timeline's own group lookup
        for d in items:
            gates, source = self._settings(d.pipeline)
            person = persons[(source, d.patient_id)]
            if person not in groups and gates.auto_link and not self._refusal(gates, person, consents.get(person)):
                wanted.setdefault(person, d.patient_id)
        if not wanted:
            return {}
        created: dict[str, str] = {}
        failed: dict[str, Exception] = {}
        if hasattr(dest, "ensure_groups"):
            try:
                by_patient = dest.ensure_groups(list(wanted.values()))
                created = {person: by_patient[pid] for person, pid in wanted.items()}
            except Exception as exc:  # handed to the engine, which records and retries it
                failed = dict.fromkeys(wanted, exc)
        else:
            for person, pid in wanted.items():
                try:
                    created[person] = dest.ensure_group(pid)
                except Exception as exc:  # as above, for this person only
                    failed[person] = exc
                    if not isinstance(exc, PermanentDeliveryError):
                        # the timeline itself is failing (down, auth): the others would wait out the same
                        # timeouts one by one, so they fail with it now and back off together
                        failed.update({p: exc for p in wanted if p not in created})
                        break
        if created:
            self.registry.link_many(f"timeline:{dest_name}", {g: p for p, g in created.items()})
            groups.update(created)
        return failed

    @staticmethod
    def _minimised(
        d: DueDelivery, person: str, consent: Consent | None, rule: privacy.DestinationRule, records: _MessageRecords
    ) -> tuple[dict[str, Any] | None, str]:
        """(the payload with only what may go, "") or (None, the refusal): data categories by consent and
        destination, fields by the destination's `fields` (privacy.py)."""
        consented = privacy.consented_categories(consent.scope) if consent is not None else None
        may = privacy.allowed(consented, rule)
        payload = d.payload
        if privacy.is_records_payload(payload) and payload["records"]:
            if may is None and rule.fields is None:
                return payload, ""
            kept = privacy.minimise(payload, may, rule)
            if kept is not None:
                return kept, ""
            categories = privacy.categories_of(payload["records"])
        elif may is None:
            return payload, ""
        else:  # opaque (a timeline post's text, a mapping's output): all of it may go, or none
            categories = privacy.categories_of(records.of(d.message_id))
            if categories <= may:
                return payload, ""
        assert may is not None
        by_consent = consented is not None and not categories <= consented
        outside = categories - consented if by_consent and consented is not None else categories - may
        return None, privacy.category_refusal(person, outside, rule, by_consent)

    @staticmethod
    def _refusal(gates: GatesConfig, person: str, consent: Any) -> str:
        return consent_refusal(person, consent, (gates.consent_scope,)) if gates.consent else ""


class _MessageRecords:
    """The canonical records of the batch's messages, read once and only if a rule needs them."""

    def __init__(self, store: Store, items: list[DueDelivery]) -> None:
        self.store = store
        self.ids = sorted({d.message_id for d in items})
        self.by_id: dict[int, list[dict[str, Any]]] | None = None

    def of(self, message_id: int) -> list[dict[str, Any]]:
        if self.by_id is None:
            self.by_id = self.store.message_records(self.ids)
        return self.by_id.get(message_id, [])


def consent_refusal(person: str, consent: Consent | None, scopes: Iterable[str], categories: Iterable[str] = ()) -> str:
    """The consent rule, the one every level and every delivery applies: why PERSON's consent does not
    cover these scopes (purposes) and data categories, or "" when it does."""
    if consent is None:
        return f"patient {person} has no consent on record (gate: consent)"
    for scope in scopes:
        if not consent.allows(scope):
            if consent.state != "granted":
                return f"patient {person} withdrew consent on {consent.consented_on} (gate: consent)"
            return f"patient {person}'s consent does not cover {scope} (gate: consent)"
    consented = privacy.consented_categories(consent.scope)
    outside = set(categories) - consented if consented is not None else set()
    if outside:
        return f"patient {person}'s consent does not cover {', '.join(sorted(outside))} data (gate: consent)"
    return ""

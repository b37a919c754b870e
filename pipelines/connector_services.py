"""What the engine offers a connector through `ConnectorContext`: identity look-ups, events, the site zone.

A connector never opens the store; it asks here. For the bedside that is: who does this wristband name,
can their posts flow now (the same consent rule the delivery gates apply, and the timeline link when
groups are not created on demand), record a wristband from the config, and publish each tap outcome.

Events (`publish`) go to subscribers in this process (a tap-station page) and to an append-only JSON-lines
file `tap-events.jsonl` in the data folder (the page of another process reads it; it holds patient names
and values, like the store itself, and is never a log), rotated by size (pipelines/event_file.py). The
connector logs its own line per outcome, with codes and ids only — never the patient's id, name or values.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from renkei.config.schema import RenkeiConfig
from renkei.connectors.base import ConnectorContext, PatientSummary, Timeline
from renkei.pipelines.event_file import KEEP, MAX_BYTES, RotatingLines
from renkei.pipelines.gates import Gates, consent_refusal
from renkei.pipelines.privacy import destination_rule
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.store import Store
from renkei.pipelines.teams import CareTeams

log = logging.getLogger("renkei.events")

EVENTS_FILE = "tap-events.jsonl"
TAG_SYSTEM = "tag"  # the patient registry's wristband/card identifiers (`renkei patients link P --tag ID`)

# why a person cannot receive posts, for the nurse at the bedside (ja / en)
NO_CONSENT = "同意が記録されていません / No consent on record"
WITHDRAWN = "同意が撤回されています / Consent was withdrawn"
OUT_OF_SCOPE = "同意の範囲外です / Consent does not cover this"
NO_TIMELINE = "タイムラインが紐付けられていません / No timeline is linked"
NO_PIPELINE = "この機器の送り先が設定されていません / No pipeline takes this connector's readings"


class _EngineView(Protocol):
    config: RenkeiConfig
    store: Store
    data_dir: Path

    def connector(self, name: str) -> Any: ...

    def _audit(self, action: str, patient_id: str, detail: str) -> None: ...


def norm_tag(tag_id: str) -> str:
    return tag_id.replace(":", "").replace("-", "").replace(" ", "").upper()


class EventBus:
    """Tap outcome events: in-process subscribers and a JSON-lines file in the data folder."""

    def __init__(self, data_dir: Path, *, max_bytes: int = MAX_BYTES, keep: int = KEEP) -> None:
        self.path = data_dir / EVENTS_FILE
        self.file = RotatingLines(self.path, max_bytes=max_bytes, keep=keep)  # rotated by size (event_file.py)
        self.recent: deque[dict[str, Any]] = deque(maxlen=200)
        self.subscribers: list[Callable[[dict[str, Any]], None]] = []
        self._lock = threading.Lock()

    def publish(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False, sort_keys=True, default=str)
        with self._lock:
            self.recent.append(event)
            self.file.append(line)
        for subscriber in list(self.subscribers):
            try:
                subscriber(event)
            except Exception as exc:  # a broken page must not break the bedside
                log.error("event subscriber failed: %s", type(exc).__name__)


class ConnectorServices:
    """One per engine; `context(name)` is the ConnectorContext a connector named `name` gets."""

    def __init__(self, engine: _EngineView) -> None:
        self.engine = engine
        self.registry = PatientRegistry(engine.store)
        self.events = EventBus(engine.data_dir)

    def context(self, name: str) -> ConnectorContext:
        return ConnectorContext(
            data_dir=self.engine.data_dir,
            audit=self.engine._audit,
            patient_for_tag=lambda tag_id: self.patient_for_tag(name, tag_id),
            patient=lambda person_id: self.patient(name, person_id),
            link_tag=lambda tag_id, person_id: self.registry.link(person_id, TAG_SYSTEM, norm_tag(tag_id)),
            publish=self.events.publish,
            timezone=self.engine.config.timezone,
            teams=lambda patient_ids: self.teams(name, patient_ids),
        )

    def teams(self, timeline: str, patient_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """The care team on `timeline` of the person behind each patient id (as a timeline first sees it:
        through an EHR link, else the id itself): the timeline's configured members (the seed) with this
        person's additions and removals (pipelines/teams.py). Two reads for the whole batch."""
        persons = self.registry.persons_by_any_ehr(patient_ids)
        teams = CareTeams(self.engine.store).teams(list(persons.values()), seed_members(self.engine, timeline))
        return {pid: [(t.member, t.role) for t in teams[persons[pid]]] for pid in patient_ids}

    def patient_for_tag(self, source: str, tag_id: str) -> PatientSummary | None:
        person = self.registry.person_for(TAG_SYSTEM, norm_tag(tag_id))
        return None if person is None else self.summary(source, person)

    def patient(self, source: str, person_id: str) -> PatientSummary | None:
        """A person named by a card record: known only when the registry has them (a link or a consent)."""
        if not self.registry.identifiers(person_id) and self.registry.consent(person_id) is None:
            return None
        return self.summary(source, person_id)

    def summary(self, source: str, person: str) -> PatientSummary:
        basics = self.engine.store.patient_basics([person]).get(person) or {}
        reason = self.refusal(source, person)
        return PatientSummary(
            patient_id=person,
            name_kanji=str(basics.get("name_kanji") or ""),
            name_kana=str(basics.get("name_kana") or ""),
            birth_date=str(basics.get("birth_date") or ""),
            can_receive=not reason,
            reason=reason,
        )

    def refusal(self, source: str, person: str) -> str:
        """Why posts for `person` read by `source` cannot flow now ("" when they can): the gates' rule."""
        pipelines = [p for p in self.engine.config.pipelines if p.source == source]
        if not pipelines:
            return NO_PIPELINE
        consent = self.registry.consent(person)
        for p in pipelines:
            if Gates._refusal(p.gates, person, consent):  # one consent rule: the gates' own
                if consent is None:
                    return NO_CONSENT
                return WITHDRAWN if consent.state != "granted" else OUT_OF_SCOPE
            privacy = getattr(getattr(self.engine, "gates", None), "privacy", None)
            # the data categories the source's posts carry (the bedside: vitals, and the note naming the nurse)
            categories = tuple(getattr(self.engine.connector(source), "data_categories", ()))
            for dest in p.destinations:
                is_timeline = isinstance(self.engine.connector(dest), Timeline)
                # the gates also check the destination's purpose (`timeline`, `external` …) and the consented
                # data categories: what delivery would refuse is refused here too, before any reading is taken
                purpose = destination_rule(privacy, dest, is_timeline).purpose if privacy is not None else ""
                if purpose and p.gates.consent and consent_refusal(person, consent, (purpose,), categories):
                    return OUT_OF_SCOPE
                linked = self.registry.linked_value(person, f"timeline:{dest}") if is_timeline else ""
                if is_timeline and not p.gates.auto_link and linked is None:
                    return NO_TIMELINE
        return ""


def seed_members(engine: Any, timeline: str) -> list[str]:
    """A timeline's configured `members:` (invited into every group: every team's seed)."""
    settings = getattr(getattr(engine, "loaded", None), "connector_settings", {}).get(timeline)
    return list(getattr(settings, "members", None) or [])


def connector_context(engine: _EngineView, name: str) -> ConnectorContext:
    """The engine's one call: the context for connector `name` (services built once per engine)."""
    services = getattr(engine, "_connector_services", None)
    if services is None:
        services = ConnectorServices(engine)
        engine._connector_services = services  # type: ignore[attr-defined]
    return services.context(name)

"""A patient lookup for tap-session tests: what the engine's ConnectorContext answers, from a dict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from renkei.devices.registry import DeviceRegistry, norm_id
from renkei.devices.tap import TapSession


@dataclass(frozen=True)
class Person:
    patient_id: str
    name_kanji: str = ""
    name_kana: str = ""
    can_receive: bool = True
    reason: str = ""


class Patients:
    """Wristbands (tag -> patient id) and people (id -> Person; a patient not listed can receive posts)."""

    def __init__(self, bands: dict[str, str], people: dict[str, Person] | None = None) -> None:
        self.bands = {norm_id(k): v for k, v in bands.items()}
        self.people = dict(people or {})

    def by_id(self, pid: str) -> Person | None:
        if pid in self.people:
            return self.people[pid]
        return Person(pid) if pid in self.bands.values() else None

    def for_tag(self, tag: str) -> Person | None:
        pid = self.bands.get(norm_id(tag))
        return None if pid is None else self.by_id(pid)

    def session(self, registry: DeviceRegistry, ingest: Any, **kw: Any) -> TapSession:
        return TapSession(registry, ingest, patient_for_tag=self.for_tag, patient_by_id=self.by_id, **kw)

"""The two connector contracts the engine knows: Source and Destination.

A Source lists raw inputs with a stable key and a fingerprint (so the engine can resume and skip what it
has already stored), reads their bytes, and parses stored bytes into canonical records. A Destination
delivers one payload under an idempotency key and must be safe to call twice with the same key.

Both are deliberately tiny (docs/architecture.md, "Contracts"); connectors register under the
entry-point group `renkei.connectors` (see `registry.py`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from renkei.records import Record, SourceItem


@dataclass(slots=True)
class ConnectorContext:
    """What the engine hands every connector it builds.

    Connector classes are built as `cls(name, settings, context)` where `settings` is an instance of the
    class's own pydantic model `cls.Settings` (validated from the YAML config).
    `audit(action, patient_id, detail)` appends to the tamper-evident audit log.

    `patient_for_tag(tag_id)` and `patient(person_id)` answer who a wristband/card names and whether
    they can receive posts now (consent, timeline link), from the engine's patient registry; `link_tag`
    records a wristband there (config-as-code); `publish(event)` hands a JSON-able event (e.g. a bedside
    tap outcome) to the engine for the tap-station page and the log; `timezone` is the site's zone.
    `teams(patient_ids)` gives the care team of the person behind each patient id on this timeline, as
    (member, team role) pairs (pipelines/teams.py), in one read for a whole batch of new groups; None
    when the engine keeps no teams (then a timeline invites its configured `members`). `team(patient_id)`
    is the same for one patient.
    """

    data_dir: Path
    audit: Callable[[str, str, str], None] = lambda action, patient_id, detail: None
    patient_for_tag: Callable[[str], PatientSummary | None] = lambda tag_id: None
    patient: Callable[[str], PatientSummary | None] = lambda person_id: None
    link_tag: Callable[[str, str], None] = lambda tag_id, person_id: None
    publish: Callable[[dict[str, Any]], None] = lambda event: None
    timezone: str = "Asia/Tokyo"
    teams: Callable[[Sequence[str]], dict[str, list[tuple[str, str]]] | None] = lambda patient_ids: None

    def team(self, patient_id: str) -> list[tuple[str, str]] | None:
        found = self.teams([patient_id])
        return None if found is None else found[patient_id]


@dataclass(slots=True, frozen=True)
class PatientSummary:
    """What a bedside connector may know of a person: enough to show the nurse who it is, and whether
    their posts can flow (`can_receive`; when not, `reason` says why in "ja / en", shown to the nurse)."""

    patient_id: str
    name_kanji: str = ""
    name_kana: str = ""
    birth_date: str = ""
    can_receive: bool = True
    reason: str = ""


@dataclass(slots=True)
class Parsed:
    """What a source's parser made of one stored input."""

    records: list[Record]
    patient_id: str = ""
    data_type: str = ""  # e.g. "OML-11", "ADT^A08", "PHD-10407"
    warnings: list[str] = field(default_factory=list)
    # The source's version of what the records stand for (HL7 v2: MSH-7 as fixed-width JST), compared as a string:
    # a later version replaces an earlier post of the same record key, an earlier one never replaces it.
    version: str = ""


@runtime_checkable
class Source(Protocol):
    name: str

    def scan(self) -> Iterator[SourceItem]:
        """Every input currently available, grouped (all items of one group consecutive)."""
        ...

    def read(self, key: str) -> bytes:
        """The raw bytes behind `key`; raises InputError naming the key if it cannot be read."""
        ...

    def parse(self, key: str, raw: bytes) -> Parsed:
        """Canonical records from stored bytes; raises InputError with a precise reason."""
        ...

    def close(self) -> None: ...


Ingest = Callable[[Sequence[tuple[SourceItem, bytes]]], list[tuple[int, bool]]]


@runtime_checkable
class PushSource(Source, Protocol):
    """A source that is sent messages (MLLP listener, device gateway, HTTP) instead of scanning.

    `start(ingest)` begins serving in the source's own threads and returns. For each message (or batch)
    received it calls `ingest([(SourceItem, raw), …])`, which stores them durably and returns, in
    order, `(message_id, duplicate)`; only after ingest returns may the source acknowledge.
    `duplicate` is True when the item's key was already stored (e.g. a resent MSH-10 from the same
    sender): acknowledge it, but it will not be processed twice.
    """

    def start(self, ingest: Ingest) -> None: ...

    def stop(self) -> None: ...


@dataclass(slots=True)
class Attachment:
    """A file on a post. A document from a source travels as a reference (`content`: where in the stored raw
    input its bytes are, with `size` and `sha256`) and gets its `data` from the engine just before delivery,
    so the file is never copied into payloads; a user's upload carries its data."""

    name: str
    media_type: str
    data: bytes = b""
    content: str = ""
    size: int = 0
    sha256: str = ""

    def __post_init__(self) -> None:
        if self.data and not self.size:  # an upload's size is its data's, however the attachment was made
            self.size = len(self.data)

    def to_dict(self) -> dict[str, Any]:
        if self.content and not self.data:
            return {"name": self.name, "media_type": self.media_type, "content": self.content,
                    "size": self.size, "sha256": self.sha256}  # fmt: skip
        return {
            "name": self.name,
            "media_type": self.media_type,
            "data": base64.b64encode(self.data).decode(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Attachment:
        data = base64.b64decode(d["data"]) if "data" in d else b""
        return cls(
            d["name"], d["media_type"], data, d.get("content", ""), int(d.get("size") or 0), d.get("sha256", "")
        )


@dataclass(slots=True)
class TimelinePost:
    """What a timeline destination receives: one post on one patient's group."""

    patient_id: str
    text: str
    tags: list[str] = field(default_factory=list)
    links: list[dict[str, str]] = field(default_factory=list)  # {"title": …, "url": …}
    attachments: list[Attachment] = field(default_factory=list)
    author: str = "renkei"
    # What the post stands for downstream: a later post with the same record_key replaces it,
    # and `retracts=True` withdraws it (SS-MIX2 condition flags 2 and 0).
    record_key: str = ""
    retracts: bool = False
    source_version: str = ""  # Parsed.version: an older version never replaces a newer post ("" = unknown)
    # The group to post to, set by the engine's linked-group gate from the patient registry. A timeline
    # posts there when it is set and falls back to its own group for patient_id only when it is not.
    group_id: str = ""
    # Who in the patient's team sees it (renkei.audiences): team (everyone), physicians, or roles:R1,R2.
    audience: str = "team"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "patient_id": self.patient_id,
            "text": self.text,
            "tags": self.tags,
            "links": self.links,
            "attachments": [a.to_dict() for a in self.attachments],
            "author": self.author,
            "record_key": self.record_key,
            "retracts": self.retracts,
            "source_version": self.source_version,
            "group_id": self.group_id,
        }
        if self.audience != "team":  # payloads stored before audiences existed stay as they were
            out["audience"] = self.audience
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TimelinePost:
        return cls(
            patient_id=d["patient_id"],
            text=d["text"],
            tags=list(d.get("tags", [])),
            links=list(d.get("links", [])),
            attachments=[Attachment.from_dict(a) for a in d.get("attachments", [])],
            author=d.get("author", "renkei"),
            record_key=d.get("record_key", ""),
            retracts=bool(d.get("retracts", False)),
            source_version=d.get("source_version", ""),
            group_id=str(d.get("group_id") or ""),
            audience=str(d.get("audience") or "team"),
        )


@runtime_checkable
class Destination(Protocol):
    name: str

    def deliver(self, payload: dict[str, Any], idempotency_key: str) -> str:
        """Deliver one payload; return a receipt (the target's id for it).

        Calling it again with the same key must not deliver twice: return the first receipt.
        Raises RetryableDeliveryError or PermanentDeliveryError.
        """
        ...

    def close(self) -> None: ...


class BatchDestination(Destination, Protocol):
    """Optional: deliver many payloads at once (batch sync). Results align with `items`."""

    def deliver_many(self, items: Sequence[tuple[dict[str, Any], str]]) -> list[str | Exception]: ...


@runtime_checkable
class Timeline(Destination, Protocol):
    """A care-SNS style destination: one invite-only group per patient.

    `deliver(payload, key)` takes a `TimelinePost.to_dict()` payload, finds or creates the patient's
    group and posts to it. The finer calls below serve the four levels and the operator commands.
    """

    def ensure_group(self, patient_id: str, title: str = "") -> str:
        """The patient's group id, created invite-only on first use."""
        ...

    def invite(self, group_id: str, member: str) -> None: ...

    def post(self, group_id: str, post: TimelinePost, idempotency_key: str) -> str:
        """Post once per idempotency key; a repeat returns the first post's id."""
        ...

    def read(self, group_id: str, member: str | None = None) -> list[dict[str, Any]]:
        """Posts newest last, as `member` sees them (None: as the connector's own account)."""
        ...

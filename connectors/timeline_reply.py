"""What the way-back sources share: one reply from a patient's timeline, stored raw and parsed into records.

Each source (built-in timeline, Matrix /sync, inbound webhook) stores a reply as the same small JSON
document (`InboundReply.to_raw()`: origin, event id, patient id, author, text, time), so the engine keeps
the raw input, re-parses it on reprocess, and every destination sees the same canonical records:

- a vitals report (the text convention of mappings/vital_text.py, 「BT 36.8 BP 120/80 P 72 SpO2 97」) becomes
  Observation records (IEEE 11073 MDC codes, as device readings are), data type `VITALS`;
- any other text becomes one Note (tag 返信), data type `REPLY`.
The record keys come from the timeline event (`<origin>/<event id>`), so the same reply is the same record
everywhere (FHIR resource id, MDM TXA-12, the delivery's idempotency key and so the MLLP MSH-10).
A text that claims to be a vitals report but cannot be read raises VitalTextError (an InputError: the
message is quarantined with the reason) and the source tells the nurse on the timeline.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from renkei.connectors.base import Parsed
from renkei.errors import InputError
from renkei.mappings.vital_text import VitalTextError, is_vital_text, read_vital_text
from renkei.records import Note

REPLY_TAG = "返信"
DATA_TYPE_VITALS = "VITALS"
DATA_TYPE_REPLY = "REPLY"
MAX_TEXT = 20_000  # characters; a longer post is refused, not cut


@dataclass(slots=True, frozen=True)
class InboundReply:
    origin: str  # builtin, matrix, webhook (and the source's name where several exist)
    event_id: str  # the timeline's own id of the post: stable across re-reads
    patient_id: str
    author: str  # a staff id (member name, Matrix id), never a person's name
    text: str
    sent_at: str  # ISO 8601 with offset

    @property
    def record_key(self) -> str:
        return f"{self.origin}/{self.event_id}"

    def to_raw(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True).encode("utf-8")

    @classmethod
    def from_raw(cls, raw: bytes, key: str) -> InboundReply:
        try:
            data = json.loads(raw.decode("utf-8"))
            reply = cls(**{name: str(data[name]) for name in cls.__dataclass_fields__})
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{key}: stored reply is not UTF-8 JSON ({type(exc).__name__})") from exc
        except (KeyError, TypeError) as exc:
            raise InputError(f"{key}: stored reply lacks field {exc}") from exc
        reply.check(key)
        return reply

    def check(self, key: str) -> None:
        """Refuse what cannot be delivered faithfully (field names only in the reason, never values)."""
        if not self.patient_id:
            raise InputError(f"{key}: the reply names no patient (its room or group is not a patient's)")
        if not self.text.strip():
            raise InputError(f"{key}: the reply has no text")
        if len(self.text) > MAX_TEXT:
            raise InputError(f"{key}: the reply is longer than {MAX_TEXT} characters")
        try:
            when = datetime.fromisoformat(self.sent_at)
        except ValueError:
            raise InputError(f"{key}: sent_at is not an ISO 8601 time") from None
        if when.tzinfo is None:
            raise InputError(f"{key}: sent_at has no UTC offset")

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.sent_at)


def parse_reply(reply: InboundReply) -> Parsed:
    """The canonical records of one reply (VitalTextError for an unreadable vitals report)."""
    if is_vital_text(reply.text):
        readings = read_vital_text(
            reply.text, patient_id=reply.patient_id, measured_at=reply.when, reporter=reply.author,
            record_key=reply.record_key,
        )  # fmt: skip
        return Parsed(records=list(readings), patient_id=reply.patient_id, data_type=DATA_TYPE_VITALS)
    note = Note(
        patient_id=reply.patient_id, record_key=reply.record_key, text=reply.text, tags=[REPLY_TAG],
        author=reply.author, written_at=reply.when, source=f"{reply.origin}:{reply.event_id}",
    )  # fmt: skip
    return Parsed(records=[note], patient_id=reply.patient_id, data_type=DATA_TYPE_REPLY)


def parse_stored_reply(raw: bytes, key: str, tell: Callable[[InboundReply, str, str], None]) -> Parsed:
    """A stored reply's records, as a reply source parses it; an unreadable vitals report is refused and
    `tell(reply, key, reason)` tells the nurse where they wrote (the VitalTextError is raised on)."""
    reply = InboundReply.from_raw(raw, key)
    try:
        return parse_reply(reply)
    except VitalTextError as exc:
        tell(reply, key, str(exc))
        raise


VITALS_HELP = "書式の例 / e.g.: BT 36.8 BP 120/80 P 72 SpO2 97"


def refusal_text(reason: str) -> str:
    """What the nurse is told when a vitals report is refused (ja first, en after, as the reason is)."""
    return f"バイタルを受け付けられませんでした。電子カルテには送っていません。\n{reason}\n{VITALS_HELP}"

"""What the store takes in and hands out: inputs to receive, processing results, due deliveries, outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from renkei.pipelines.schema import DeliveryState, MessageState


@dataclass(slots=True)
class Received:
    """One raw input to store. A `read_error` stores it QUARANTINED at once (raw may be empty)."""

    key: str
    fingerprint: str
    raw: bytes
    group: str = ""
    read_error: str = ""


@dataclass(slots=True)
class NewDelivery:
    destination: str
    idempotency_key: str
    payload: dict[str, Any]


@dataclass(slots=True)
class Processed:
    """The outcome of parsing/filtering/transforming one stored message."""

    message_id: int
    pipeline: str
    state: MessageState
    reason: str = ""
    patient_id: str = ""
    data_type: str = ""
    warnings: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] | None = None
    deliveries: list[NewDelivery] = field(default_factory=list)
    patient_record: dict[str, Any] | None = None  # latest patient basics to keep


@dataclass(slots=True)
class DueDelivery:
    id: int
    message_id: int
    pipeline: str
    destination: str
    patient_id: str
    attempts: int
    first_attempt_at: float | None
    idempotency_key: str
    payload: dict[str, Any]

    @property
    def order_key(self) -> tuple[str, str]:
        """Deliveries sharing this key go out strictly in id order."""
        return (self.destination, self.patient_id or f"message:{self.message_id}")


@dataclass(slots=True)
class DeliveryOutcome:
    delivery: DueDelivery
    state: DeliveryState  # SENT, ERROR (retry at next_attempt_at) or DEAD
    receipt: str = ""
    error: str = ""
    next_attempt_at: float = 0.0
    attempted_at: float = 0.0


QUARANTINED_RECORDS = "quarantined records at "


def quarantine_note(destination: str, reasons: list[str]) -> str:
    """The last_error of a SENT delivery whose destination refused some records: the message is QUARANTINED
    with it (queue.py), and reprocessing after a fix sends those records (they never reached the ledger)."""
    return f"{QUARANTINED_RECORDS}{destination}: " + "; ".join(reasons)

"""The bedside tap session on one reader: nurse badge -> patient wristband -> device readings.

The rules are written in docs/bedside.md ("Session rules", "Reading rules"); this module follows them:
- A session is one nurse and one patient on one reader. A valid badge opens it (and ends any patient);
  a revoked or unknown badge is refused. A wristband must follow the badge within `window_seconds`, a
  reading the wristband within `window_seconds`. A wristband that is refused — unknown, or naming a
  patient who cannot receive posts (no consent, no timeline link: the reason is shown) — ends the current
  patient: a reading after it is refused, never given to the previous patient. A wristband of another
  patient switches the session and says so (`patient-switched`).
- The device's own clock (IEEE 11073 MDS Absolute-Time, read at association): when it differs from the
  gateway's by more than `max_clock_offset_seconds`, each reading's device time is corrected by that offset
  and the reading flagged `clock_offset` (the raw device time stays in the record and in its key).
- Readings: each measurement is judged by `tap_rules.judge` (post / post flagged / hold / refuse), stored
  durably with its verdict (held and refused ones too: nothing is lost, the raw reading is kept, the
  engine quarantines them with the reason) and only then answered. `ok` (the reader's success signal) only
  when every measurement will be posted; `device_ack` (the device is told "stored") whenever the store
  committed. Each observation's idempotency key includes the patient, so a reading first sent to the wrong
  patient can still be sent to the right one, and a resent memory is a ledger duplicate for the same one.
- A device nobody registered is held for registration (`renkei devices pending`), a retired one refused.
Every outcome goes to `on_outcome` with its bilingual message, nurse, patient (id and names) and values.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from renkei.devices.ndef_phdc import NdefRecord, identity_of
from renkei.devices.registry import ACTIVE, PENDING, DeviceInfo, DeviceRegistry, norm_id
from renkei.devices.tap_messages import MESSAGES, display_values
from renkei.devices.tap_rules import DEFAULT_RANGES, HOLD, POST, REFUSE, judge
from renkei.records import Observation, SourceItem

Ingest = Callable[[Sequence[tuple[SourceItem, bytes]]], list[tuple[int, bool]]]

RECORD_VERSION = 2
log = logging.getLogger("renkei.devices.tap")


def store_failed_reason(exc: Exception) -> str:
    """Why a reading was not stored, for the nurse: the kind of failure only (no SQL, no values)."""
    kind = type(exc).__name__
    return f"データベースに保存できませんでした（{kind}）/ The store could not commit ({kind})"


__all__ = ["DEFAULT_RANGES", "MESSAGES", "RECORD_VERSION", "TapConfig", "TapOutcome", "TapSession"]


class PatientView(Protocol):
    """What the session needs to know of a patient (connectors.base.PatientSummary has it)."""

    patient_id: str
    name_kanji: str
    name_kana: str
    can_receive: bool
    reason: str


PatientLookup = Callable[[str], PatientView | None]


@dataclass(slots=True)
class TapConfig:
    window_seconds: float = 120.0
    future_tolerance_seconds: float = 60.0
    max_clock_offset_seconds: float = 600.0
    ranges: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_RANGES))
    timezone: str = "Asia/Tokyo"  # the site's zone: device clocks carry none (a device may set its own)


@dataclass(slots=True)
class TapOutcome:
    ok: bool
    code: str
    message: str
    nurse_id: str = ""
    patient_id: str = ""
    device_id: str = ""
    message_ids: list[int] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0  # measurements refused (not a value)
    held: int = 0  # measurements held for the nurse's confirmation
    patient_name_kanji: str = ""
    patient_name_kana: str = ""
    reasons: list[str] = field(default_factory=list)  # bilingual, shown to the nurse
    values: list[dict[str, str]] = field(default_factory=list)
    device_ack: bool = False  # the device may be told "stored"
    reader: str = ""

    @property
    def signal(self) -> str:
        """The reader's LED/buzzer pattern: success, attention (held for confirmation) or refusal."""
        if self.ok:
            return "success"
        return "attention" if self.held and not self.rejected else "refusal"

    def event(self) -> dict[str, Any]:
        """The published tap event (devices/ has no patient data in logs: the connector publishes this)."""
        ja, _, en = self.message.partition(" / ")
        return {
            "at": datetime.now(UTC).isoformat(),
            "reader": self.reader, "code": self.code, "ok": self.ok, "signal": self.signal,
            "message": {"ja": ja, "en": en}, "reasons": list(self.reasons),
            "nurse_id": self.nurse_id, "device_id": self.device_id,
            "patient": {"id": self.patient_id, "name_kanji": self.patient_name_kanji,
                        "name_kana": self.patient_name_kana} if self.patient_id else None,
            "values": list(self.values), "stored": self.stored, "duplicates": self.duplicates,
            "held": self.held, "refused": self.rejected, "device_told_stored": self.device_ack,
        }  # fmt: skip


def observation_key(patient_id: str, device_id: str, obs: Observation, device_time: str) -> str:
    """Idempotency key of one observation: (patient, device, code, value, unit, device time)."""
    raw = "\x1f".join((patient_id, norm_id(device_id), obs.code.code, obs.value, obs.unit, device_time))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class TapSession:
    """One bedside reader's session state. Thread-safe; `clock` returns epoch seconds."""

    def __init__(
        self,
        registry: DeviceRegistry,
        ingest: Ingest,
        config: TapConfig | None = None,
        *,
        patient_for_tag: PatientLookup = lambda _tag: None,
        patient_by_id: PatientLookup = lambda _pid: None,
        clock: Callable[[], float] = time.time,
        on_outcome: Callable[[TapOutcome], None] | None = None,
        reader: str = "",
    ) -> None:
        self.registry = registry
        self.ingest = ingest
        self.config = config or TapConfig()
        self.patient_for_tag = patient_for_tag
        self.patient_by_id = patient_by_id
        self.clock = clock
        self.on_outcome = on_outcome or (lambda _o: None)
        self.reader = reader
        self._lock = threading.Lock()
        self.nurse_id = ""
        self._nurse_at = 0.0
        self.patient: PatientView | None = None
        self._patient_at = 0.0

    @property
    def patient_id(self) -> str:
        return self.patient.patient_id if self.patient is not None else ""

    def _out(self, ok: bool, code: str, **kw: Any) -> TapOutcome:
        out = TapOutcome(ok, code, MESSAGES[code], nurse_id=self.nurse_id, reader=self.reader, **kw)
        if self.patient is not None and "patient_id" not in kw:
            out.patient_id = self.patient.patient_id
        if out.patient_id and self.patient is not None and out.patient_id == self.patient.patient_id:
            out.patient_name_kanji, out.patient_name_kana = self.patient.name_kanji, self.patient.name_kana
        return out

    def _emit(self, out: TapOutcome) -> TapOutcome:
        self.on_outcome(out)
        return out

    # -- identity taps ----------------------------------------------------------------------------
    def tag(self, tag_id: str, records: list[NdefRecord] | None = None) -> TapOutcome:
        """An identity tag (badge, wristband or card) touched the reader."""
        with self._lock:
            out = self._tag(norm_id(tag_id), records or [])
        return self._emit(out)

    def _tag(self, tag_id: str, records: list[NdefRecord]) -> TapOutcome:
        now = self.clock()
        identity = identity_of(records)
        badge = self.registry.badge(tag_id)
        if badge is not None and badge.revoked:
            self._reset()
            return self._out(False, "badge-revoked")
        nurse = badge.nurse_id if badge is not None else None
        if nurse is None and identity is not None and identity[0] == "nurse":
            nurse = identity[1] if self.registry.is_nurse(identity[1]) else None
        if nurse is not None:
            self._reset()
            self.nurse_id, self._nurse_at = nurse, now
            return self._out(True, "badge-accepted")
        patient = self.patient_for_tag(tag_id)
        if patient is None and identity is not None and identity[0] == "patient":
            patient = self.patient_by_id(identity[1])
        if not self.nurse_id:
            return self._out(False, "badge-first" if patient is not None else "unknown-badge")
        if now - self._nurse_at > self.config.window_seconds:
            self._reset()
            return self._out(False, "expired")
        previous = self.patient_id
        if patient is None:
            self.patient = None  # a refused wristband ends the patient session: never fall back
            return self._out(False, "unknown-patient")
        if not patient.can_receive:
            self.patient = None
            out = self._out(False, "patient-cannot-receive", patient_id=patient.patient_id, reasons=[patient.reason])
            out.patient_name_kanji, out.patient_name_kana = patient.name_kanji, patient.name_kana
            return out
        self.patient, self._patient_at = patient, now
        switched = bool(previous) and previous != patient.patient_id
        return self._out(True, "patient-switched" if switched else "wristband-accepted")

    def wristband_tap(self) -> tuple[str, float]:
        """(patient id, time of the wristband tap) of the open session, or ("", 0.0): a tap's identity."""
        with self._lock:
            return self.patient_id, self._patient_at

    def _reset(self) -> None:
        self.nurse_id, self._nurse_at, self.patient, self._patient_at = "", 0.0, None, 0.0

    # -- devices ----------------------------------------------------------------------------------
    def admit_device(self, device_id: str) -> str:
        """'' when a reading from `device_id` would be accepted now, else the message for the nurse."""
        with self._lock:
            refusal = self._refusal(norm_id(device_id))
        if refusal is not None:
            self._emit(refusal)
            return refusal.message
        return ""

    def _refusal(self, device_id: str) -> TapOutcome | None:
        if not self.nurse_id:
            return self._out(False, "badge-first", device_id=device_id)
        if self.patient is None:
            return self._out(False, "wristband-first", device_id=device_id)
        if self.clock() - self._patient_at > self.config.window_seconds:
            self._reset()
            return self._out(False, "expired", device_id=device_id)
        device = self.registry.device(device_id)
        if device is None or device.status == PENDING:
            if device is None:
                self.registry.hold_pending(device_id)
            return self._out(False, "device-pending", device_id=device_id)
        if device.status != ACTIVE:
            return self._out(False, "device-retired", device_id=device_id)
        return None

    def reading(
        self, device_id: str, observations: list[Observation], device_clock: datetime | None = None
    ) -> TapOutcome:
        """A device reading arrived: check the session, judge, store durably, and only then answer.
        `device_clock`: the device's own clock attribute (IEEE 11073 MDS absolute time) when it was read."""
        device_id = norm_id(device_id)
        with self._lock:
            out = self._refusal(device_id)
            if out is None:
                try:
                    out = self._store(device_id, observations, device_clock)
                except Exception as exc:  # the store failed (locked past its timeout, disk full): nothing is
                    # confirmed to the device, which keeps the reading; the nurse is told to tap again
                    log.error("bedside %s: reading from device %s not stored: %s: %s", self.reader or "-", device_id,
                              type(exc).__name__, exc)  # fmt: skip
                    out = self._out(False, "store-failed", device_id=device_id, reasons=[store_failed_reason(exc)])
        return self._emit(out)

    # -- storing ----------------------------------------------------------------------------------
    def _store(self, device_id: str, observations: list[Observation], device_clock: datetime | None) -> TapOutcome:
        assert self.patient is not None
        if not observations:
            return self._out(False, "no-observations", device_id=device_id)
        device = self.registry.device(device_id)
        assert device is not None  # checked by _refusal
        tz = ZoneInfo(device.timezone or self.config.timezone)
        gateway = datetime.fromtimestamp(self.clock(), UTC)
        clock_offset_s = None
        if device_clock is not None:
            local = device_clock if device_clock.tzinfo else device_clock.replace(tzinfo=tz)
            clock_offset_s = round((local - gateway) / timedelta(seconds=1), 3)
        clock_off = clock_offset_s is not None and abs(clock_offset_s) > self.config.max_clock_offset_seconds
        prepared = sorted((self._prepare(device_id, o, tz, gateway) for o in observations), key=lambda t: t[1])
        items: list[tuple[SourceItem, bytes]] = []
        verdicts: list[str] = []
        reasons: list[str] = []
        shown: list[Observation] = []
        for device_time, grouped in groupby(prepared, key=lambda t: t[1]):
            obs = [o for o, _t in grouped]
            if clock_off and device_time and clock_offset_s is not None:
                # the device stamps readings with its own clock, which we know is off by clock_offset_s: the
                # reading's time is corrected by it (and flagged), then judged (future, historical) on that
                for o in obs:
                    o.effective = o.effective - timedelta(seconds=clock_offset_s)  # type: ignore[operator]
            effective = obs[0].effective
            offset = None if not device_time else (effective - gateway) / timedelta(seconds=1)  # type: ignore[operator]
            session_start = self._nurse_at - self.config.future_tolerance_seconds
            before = bool(device_time) and effective.timestamp() < session_start  # type: ignore[union-attr]
            verdict = judge(
                obs, self.config.ranges, offset_from_now=offset,
                future_tolerance=self.config.future_tolerance_seconds, before_session=before, clock_offset=clock_off,
            )  # fmt: skip
            for o in obs:
                o.flags.extend(f for f in verdict.flags if f not in o.flags)
            verdicts.append(verdict.outcome)
            reasons.extend(m for m in verdict.messages() if m not in reasons)
            if verdict.outcome == POST:
                shown.extend(obs)
            items.append(
                self._item(device, device_time, obs, verdict.outcome, verdict.reasons, gateway, clock_offset_s)
            )
        results = self.ingest(items)  # raises when the store fails: `reading` tells the nurse, no device_ack
        posted = [(r, v) for r, v in zip(results, verdicts, strict=True) if v == POST]
        dup = sum(1 for (_mid, d), _v in posted if d)
        held, refused = verdicts.count(HOLD), verdicts.count(REFUSE)
        if refused:
            code = "reading-invalid"
        elif held:
            code = "reading-held"
        else:
            code = "reading-duplicate" if dup == len(posted) else "reading-stored"
        return self._out(
            not held and not refused, code, device_id=device_id, message_ids=[mid for mid, _d in results],
            stored=len(posted) - dup, duplicates=dup, rejected=refused, held=held, reasons=reasons,
            values=display_values(shown), device_ack=True,
        )  # fmt: skip

    def _item(
        self,
        device: DeviceInfo,
        device_time: str,
        obs: list[Observation],
        verdict: str,
        reasons: list[str],
        gateway: datetime,
        clock_offset_s: float | None,
    ) -> tuple[SourceItem, bytes]:
        key = "tap:" + hashlib.sha256("\x1f".join(sorted(o.record_key for o in obs)).encode()).hexdigest()[:40]
        record = {
            "version": RECORD_VERSION,
            "patient_id": self.patient_id,
            "nurse_id": self.nurse_id,
            "device_id": device.device_id,
            "device_model": device.model,
            "specialization": device.specialization,
            "facility": device.facility,
            "gateway_time": gateway.isoformat(),
            "device_time": device_time,
            "clock_offset_s": clock_offset_s,
            "verdict": verdict,
            "reasons": reasons,
            "observations": [o.to_dict() for o in obs],
        }
        raw = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
        return SourceItem(key, hashlib.sha256(raw).hexdigest()[:16], self.patient_id), raw

    def _prepare(self, device_id: str, obs: Observation, tz: ZoneInfo, gateway: datetime) -> tuple[Observation, str]:
        """The observation with the patient, its key and its effective time; with its device time text."""
        device_time = obs.effective.isoformat() if obs.effective is not None else ""
        effective = gateway if obs.effective is None else obs.effective
        if effective.tzinfo is None:
            effective = effective.replace(tzinfo=tz)
        rng = self.config.ranges.get(obs.code.code)
        out = Observation(
            patient_id=self.patient_id,
            # judgement: without a device time, the wristband tap scopes the key (a resend within one tap is
            # a duplicate, the same weight on another day is a new reading)
            record_key=observation_key(self.patient_id, device_id, obs, device_time or f"tap@{self._patient_at:.3f}"),
            status=obs.status,
            source=obs.source or f"bedside:{device_id}",
            warnings=list(obs.warnings),
            code=obs.code,
            local_code=obs.local_code,
            value=obs.value,
            value_type=obs.value_type,
            unit=obs.unit,
            reference_range=obs.reference_range or (f"{rng[0]:g}-{rng[1]:g}" if rng else ""),
            abnormal_flag=obs.abnormal_flag,
            effective=effective,
            result_status=obs.result_status or "F",
            normalized_value=obs.normalized_value,
            normalized_unit=obs.normalized_unit,
            device_id=device_id,
            flags=list(obs.flags),
            order_no=obs.order_no,
        )
        return out, device_time

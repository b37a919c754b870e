"""The bedside tap session: nurse badge -> patient wristband -> device reading, stored before "success".

Rules (domain notes, "Safe bedside workflow"; the window lengths are a judgement, configurable):
- The wristband must follow a badge within `window_seconds` (default 120 s) of the badge tap, and a device
  reading must follow the wristband within `window_seconds` of the wristband tap. Several devices may be
  read for one patient inside that window; a new wristband tap switches patient.
- Wrong order, an expired window, an unknown badge, patient or device each end with a clear bilingual
  message for the nurse and nothing is stored. `admit_device()` answers before a device association is
  accepted, so a refused device keeps its memory.
- Each observation gets the patient from the wristband (never from the device's user id), an idempotency
  key from (device, code, value, unit, device time) as its `record_key` — for a device that sends no
  time (an A&D scale, a monitor without clock) the wristband tap's time stands in for it, so a resend
  within one tap is a duplicate but the same weight on another day is a new reading — and flags: `implausible` outside
  the configured range (flagged, never dropped), `clock_offset` when device and gateway clocks differ by
  more than `max_clock_offset_seconds`, `no_device_time` when the device sent none. Readings whose device
  time lies more than `future_tolerance_seconds` ahead of the gateway are rejected.
- One stored message per measurement (observations sharing a device time), keyed by the hash of its
  observation keys: a repeated tap or a device resending its memory maps to the same key, which the
  engine's ledger de-duplicates, so nothing posts twice. `ok=True` ("beep") is returned only after the
  `ingest` callable (the engine's durable store) returned.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

from renkei.devices.ndef_phdc import NdefRecord, identity_of
from renkei.devices.registry import DeviceRegistry, norm_id
from renkei.records import Observation, SourceItem

Ingest = Callable[[Sequence[tuple[SourceItem, bytes]]], list[tuple[int, bool]]]

RECORD_VERSION = 1

# Plausibility ranges in the normalised unit (judgement: wide adult ranges; a site narrows them in config).
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "18949": (50, 260),  # systolic, mm[Hg]
    "18950": (20, 160),  # diastolic
    "18951": (30, 200),  # mean
    "18474": (25, 250),  # pulse rate (NIBP), /min
    "18458": (25, 250),  # pulse rate (oximeter), /min
    "19384": (50, 100),  # SpO2, %
    "19292": (30, 45),  # body temperature, Cel
    "57664": (2, 300),  # body mass, kg
    "57680": (8, 80),  # BMI
    "29112": (10, 800),  # glucose, mg/dL
}

MESSAGES = {
    "badge-accepted": (
        "看護師バッジを確認しました。患者リストバンドをタッチしてください / Badge accepted: tap the patient's wristband"
    ),
    "wristband-accepted": "患者を確認しました。機器をタッチしてください / Patient confirmed: tap the device",
    "reading-stored": "測定値を保存しました / Reading stored",
    "reading-duplicate": "この測定値は保存済みです / This reading was already stored",
    "badge-first": "看護師バッジを先にタッチしてください / Tap your nurse badge first",
    "wristband-first": "患者リストバンドを先にタッチしてください / Tap the patient's wristband first",
    "expired": "時間切れです。看護師バッジからやり直してください / Session expired: tap your badge again",
    "unknown-badge": "登録されていないバッジです / This badge is not registered",
    "unknown-patient": "登録されていない患者リストバンドです / This wristband is not registered to a patient",
    "unknown-device": "登録されていない機器です / This device is not registered",
    "future-reading": "機器の時刻が未来です。測定値は保存しません / Device clock is ahead: reading rejected",
    "no-observations": "測定値がありません / The device sent no reading",
}


@dataclass(slots=True)
class TapConfig:
    window_seconds: float = 120.0
    future_tolerance_seconds: float = 60.0
    max_clock_offset_seconds: float = 600.0
    ranges: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_RANGES))
    timezone: str = "Asia/Tokyo"  # device clocks carry no zone: their local time is read in this one


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
    rejected: int = 0


def _outcome(ok: bool, code: str, **kw: object) -> TapOutcome:
    return TapOutcome(ok, code, MESSAGES[code], **kw)  # type: ignore[arg-type]


def observation_key(device_id: str, obs: Observation, device_time: str) -> str:
    """Idempotency key of one observation: (device, code, value, unit, device time)."""
    raw = "\x1f".join((norm_id(device_id), obs.code.code, obs.value, obs.unit, device_time))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class TapSession:
    """One bedside reader's session state. Thread-safe; `clock` returns epoch seconds."""

    def __init__(
        self,
        registry: DeviceRegistry,
        ingest: Ingest,
        config: TapConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        on_outcome: Callable[[TapOutcome], None] | None = None,
    ) -> None:
        self.registry = registry
        self.ingest = ingest
        self.config = config or TapConfig()
        self.clock = clock
        self.on_outcome = on_outcome or (lambda _o: None)
        self._tz = ZoneInfo(self.config.timezone)
        self._lock = threading.Lock()
        self.nurse_id = ""
        self._nurse_at = 0.0
        self.patient_id = ""
        self._patient_at = 0.0

    # -- taps -------------------------------------------------------------------------------------
    def tag(self, tag_id: str, records: list[NdefRecord] | None = None) -> TapOutcome:
        """An identity tag (badge, wristband or card) touched the reader."""
        with self._lock:
            out = self._tag(norm_id(tag_id), records or [])
        self.on_outcome(out)
        return out

    def _tag(self, tag_id: str, records: list[NdefRecord]) -> TapOutcome:
        now = self.clock()
        identity = identity_of(records)
        nurse = self.registry.nurse_for_badge(tag_id)
        if nurse is None and identity is not None and identity[0] == "nurse":
            nurse = identity[1] if self.registry.is_nurse(identity[1]) else None
        if nurse is not None:
            self.nurse_id, self._nurse_at = nurse, now
            self.patient_id, self._patient_at = "", 0.0
            return _outcome(True, "badge-accepted", nurse_id=nurse)
        patient = self.registry.patient_for_tag(tag_id)
        if patient is None and identity is not None and identity[0] == "patient":
            patient = identity[1] if self.registry.is_patient(identity[1]) else None
        if not self.nurse_id:
            return _outcome(False, "badge-first" if patient is not None else "unknown-badge")
        if now - self._nurse_at > self.config.window_seconds:
            self._reset()
            return _outcome(False, "expired")
        if patient is None:
            return _outcome(False, "unknown-patient", nurse_id=self.nurse_id)
        self.patient_id, self._patient_at = patient, now
        return _outcome(True, "wristband-accepted", nurse_id=self.nurse_id, patient_id=patient)

    def wristband_tap(self) -> tuple[str, float]:
        """(patient id, time of the wristband tap) of the open session, or ("", 0.0): a tap's identity."""
        with self._lock:
            return self.patient_id, self._patient_at

    def _reset(self) -> None:
        self.nurse_id, self._nurse_at, self.patient_id, self._patient_at = "", 0.0, "", 0.0

    def admit_device(self, device_id: str) -> str:
        """'' when a reading from `device_id` would be accepted now, else the message for the nurse."""
        with self._lock:
            refusal = self._refusal(norm_id(device_id))
        if refusal is not None:
            self.on_outcome(refusal)
            return refusal.message
        return ""

    def _refusal(self, device_id: str) -> TapOutcome | None:
        if not self.nurse_id:
            return _outcome(False, "badge-first", device_id=device_id)
        if not self.patient_id:
            return _outcome(False, "wristband-first", nurse_id=self.nurse_id, device_id=device_id)
        if self.clock() - self._patient_at > self.config.window_seconds:
            self._reset()
            return _outcome(False, "expired", device_id=device_id)
        if self.registry.device(device_id) is None:
            return _outcome(
                False, "unknown-device", nurse_id=self.nurse_id, patient_id=self.patient_id, device_id=device_id
            )
        return None

    def reading(self, device_id: str, observations: list[Observation]) -> TapOutcome:
        """A device reading arrived: check the session, flag, store durably, and only then report ok."""
        device_id = norm_id(device_id)
        with self._lock:
            out = self._refusal(device_id)
            if out is None:
                out = self._store(device_id, observations)
        self.on_outcome(out)
        return out

    # -- storing ----------------------------------------------------------------------------------
    def _store(self, device_id: str, observations: list[Observation]) -> TapOutcome:
        ids = {"nurse_id": self.nurse_id, "patient_id": self.patient_id, "device_id": device_id}
        if not observations:
            return _outcome(False, "no-observations", **ids)
        device = self.registry.device(device_id)
        assert device is not None  # checked by _refusal
        gateway = datetime.fromtimestamp(self.clock(), UTC)
        items: list[tuple[SourceItem, bytes]] = []
        rejected = 0
        prepared = [self._prepare(device_id, o, gateway) for o in observations]
        prepared.sort(key=lambda t: t[1])
        for device_time, grouped in groupby(prepared, key=lambda t: t[1]):
            group = list(grouped)
            obs = [o for o, _t, _offset in group]
            offset = group[0][2]  # one device time, one offset
            if offset is not None and offset > self.config.future_tolerance_seconds:
                rejected += len(obs)
                continue
            key = "tap:" + hashlib.sha256("\x1f".join(sorted(o.record_key for o in obs)).encode()).hexdigest()[:40]
            record = {
                "version": RECORD_VERSION,
                **ids,
                "device_model": device.model,
                "specialization": device.specialization,
                "facility": device.facility,
                "gateway_time": gateway.isoformat(),
                "device_time": device_time,
                "clock_offset_s": offset,
                "observations": [o.to_dict() for o in obs],
            }
            raw = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
            items.append((SourceItem(key, hashlib.sha256(raw).hexdigest()[:16], self.patient_id), raw))
        if not items:
            return _outcome(False, "future-reading", rejected=rejected, **ids)
        results = self.ingest(items)  # raises when the store fails: no success, the device is not confirmed
        dup = sum(1 for _mid, d in results if d)
        code = "reading-duplicate" if dup == len(results) else "reading-stored"
        return _outcome(
            True,
            code,
            message_ids=[mid for mid, _d in results],
            stored=len(results) - dup,
            duplicates=dup,
            rejected=rejected,
            **ids,
        )

    def _prepare(self, device_id: str, obs: Observation, gateway: datetime) -> tuple[Observation, str, float | None]:
        """Patient, key and flags on one observation; returns it with its device time text and offset."""
        flags = list(obs.flags)
        device_time = obs.effective.isoformat() if obs.effective is not None else ""
        offset: float | None = None
        if obs.effective is None:
            flags.append("no_device_time")
            effective = gateway
        else:
            effective = obs.effective if obs.effective.tzinfo else obs.effective.replace(tzinfo=self._tz)
            offset = round((effective - gateway) / timedelta(seconds=1), 3)
            if abs(offset) > self.config.max_clock_offset_seconds and "clock_offset" not in flags:
                flags.append("clock_offset")
            if offset > self.config.future_tolerance_seconds and "future_time" not in flags:
                flags.append("future_time")
        rng = self.config.ranges.get(obs.code.code)
        value = obs.normalized_value if obs.normalized_value is not None else _number(obs.value)
        if rng is not None and value is not None and not rng[0] <= value <= rng[1] and "implausible" not in flags:
            flags.append("implausible")
        out = Observation(
            patient_id=self.patient_id,
            # judgement: without a device time, the wristband tap scopes the key (see the module docstring)
            record_key=observation_key(device_id, obs, device_time or f"tap@{self._patient_at:.3f}"),
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
            flags=flags,
            order_no=obs.order_no,
        )
        return out, device_time, offset


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None

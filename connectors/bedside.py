"""bedside — the push source that plugs bedside NFC and serial devices into the engine.

It runs the NFC reader loop (`devices/nfc.py`), one thread per serial device port
(`devices/serial_feed.py`) and the bedside tap session (`devices/tap.py`) they share: nurse badge ->
patient wristband -> device, following the rules in docs/bedside.md. Each measurement is handed to the
engine's `ingest` as one stored message whose key is the measurement's idempotency key (so a repeated tap
or a resent device memory is a ledger duplicate and never posts twice); only after ingest returned is the
device answered. `parse()` turns the stored tap record back into Observations for the VITALS template
(held and refused measurements are quarantined there with their reason: kept, never posted).

Who a wristband names, and whether that patient can receive posts, is asked of the engine through the
ConnectorContext (the patient registry's "tag" identifiers are the one list of wristbands); every tap
outcome is published through `context.publish` with its bilingual message, the nurse, the patient's
names and the values (the log gets ids and codes only).

Config:
    connectors:
      ward:
        type: bedside
        nfc: udp:127.0.0.1:54321        # or usb, usb:054c:06c3, tty:USB0:pn532
        serial:                          # optional; each port in its own thread, same tap session
          - {url: "/dev/ttyUSB0", protocol: masimo, device_id: "0011223344550002", baudrate: 9600}
          - {url: "socket://127.0.0.1:7001", protocol: and, device_id: "AND-GF-0001", take: all}
        window_seconds: 120
        devices:   {"0011223344550001": {model: "UA-651", specialization: blood-pressure, facility: "訪問看護A",
                                         timezone: "Asia/Tokyo"}}   # the device clock's zone; default the site's
        badges:    {"02FE000000000001": nurse.sato}
        wristbands: {"02FE000000000002": "9999013"}

The `devices`/`badges` maps are written into the device registry (`devices.sqlite` in the data folder) and
`wristbands` into the patient registry (as "tag" identifiers, through the context) at start, so both are
config-as-code; entries added by other means are kept. A serial
port's `device_id` must be a registered device. `take: first` (default) takes one reading per wristband
tap from a port, since monitors print continuously; `take: all` hands every reading to the session.

Stored record (JSON, UTF-8): {version, patient_id, nurse_id, device_id, device_model, specialization,
facility, gateway_time, device_time, clock_offset_s, verdict (post|hold|refuse), reasons,
observations: [Observation.to_dict()]}.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from renkei.connectors.base import ConnectorContext, Ingest, Parsed, PatientSummary, SourceItem
from renkei.devices.nfc import NfcReader
from renkei.devices.registry import DeviceRegistry, norm_id
from renkei.devices.serial_feed import SerialFeed
from renkei.devices.tap import RECORD_VERSION, TapConfig, TapOutcome, TapSession
from renkei.devices.tap_rules import DEFAULT_RANGES, reason_message
from renkei.errors import ConfigError, InputError, RefusedError
from renkei.records import Note, Observation, Record

log = logging.getLogger("renkei.connectors.bedside")

DATA_TYPE = "VITALS"


class DeviceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    specialization: str
    facility: str = ""
    timezone: str = Field("", description="the device clock's IANA zone; default: the site's (config timezone)")


class SerialEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="pyserial URL: /dev/ttyUSB0, COM3, socket://host:port, rfc2217://…, loop://")
    protocol: Literal["masimo", "and", "intellivue"]
    device_id: str = Field(min_length=1, description="the device's system id in the registry (devices:)")
    baudrate: int = Field(9600, gt=0)
    take: Literal["first", "all"] = "first"
    reconnect_seconds: float = Field(1.0, gt=0)


class BedsideSource:
    # what its posts carry, for the consent check at the wristband: the readings and the note naming the nurse
    data_categories = ("vitals", "notes")

    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid")
        nfc: str | None = Field(None, description="nfcpy reader path: usb[:…], tty:…, udp[:host:port]")
        targets: list[str] | None = Field(None, description="nfcpy target kinds; default by reader path")
        window_seconds: float = Field(120.0, gt=0)
        future_tolerance_seconds: float = Field(60.0, ge=0)
        max_clock_offset_seconds: float = Field(600.0, gt=0)
        timezone: str | None = Field(None, description="default zone of device clocks; default: the site's")
        plausibility: dict[str, tuple[float, float]] = Field(
            default_factory=dict, description="MDC code -> (low, high) in the normalised unit; overrides defaults"
        )
        devices: dict[str, DeviceEntry] = Field(default_factory=dict)
        badges: dict[str, str] = Field(default_factory=dict, description="badge tag id -> nurse id")
        wristbands: dict[str, str] = Field(default_factory=dict, description="wristband tag id -> patient id")
        patients: list[str] = Field(default_factory=list, description="patients whose cards carry renkei:patient:")
        registry_dir: Path | None = Field(None, description="folder for devices.sqlite; default: the data folder")
        phdc_reply_timeout: float = Field(3.0, gt=0)
        serial: list[SerialEntry] = Field(default_factory=list, description="serial device ports")

    def __init__(self, name: str, settings: Settings, context: ConnectorContext) -> None:
        self.name = name
        self.settings = settings
        self.context = context
        self.registry = DeviceRegistry(settings.registry_dir or context.data_dir)
        self._seed()
        self._check_serial()
        s = settings
        self.tap_config = TapConfig(
            window_seconds=s.window_seconds,
            future_tolerance_seconds=s.future_tolerance_seconds,
            max_clock_offset_seconds=s.max_clock_offset_seconds,
            ranges={**DEFAULT_RANGES, **s.plausibility},
            timezone=s.timezone or context.timezone,
        )
        self.session: TapSession | None = None
        self.reader: NfcReader | None = None
        self.serial_feeds: list[SerialFeed] = []
        self._last_refusal: dict[str, str] = {}  # device -> last refusal code logged (monitors repeat)
        self.outcomes: list[TapOutcome] = []  # the last few, for operators and tests
        self._lock = threading.Lock()

    def _seed(self) -> None:
        for device_id, d in self.settings.devices.items():
            self.registry.add_device(device_id, d.model, d.specialization, d.facility, d.timezone)
        for tag_id, nurse in self.settings.badges.items():
            self.registry.add_badge(tag_id, nurse)
        # one list of wristbands: the patient registry's; the old second table's rows move there, once
        legacy = self.registry.legacy_wristbands()
        for tag_id, patient in {**legacy, **self.settings.wristbands}.items():
            try:
                self.context.link_tag(norm_id(tag_id), patient)
            except RefusedError as exc:  # the registry already names someone else: the config must not move it
                field = f"connectors.{self.name}.wristbands.{tag_id}"
                raise ConfigError(f"bedside {self.name}: wristband {tag_id}: {exc}", [(field, None, str(exc))]) from exc
        if legacy:
            self.registry.drop_legacy_wristbands()

    def _patient_by_id(self, person_id: str) -> PatientSummary | None:
        """A card naming a patient (`renkei:patient:<id>`) is accepted for listed or registered persons."""
        summary = self.context.patient(person_id)
        if summary is None and person_id in self.settings.patients:
            reason = "同意が記録されていません / No consent on record"
            return PatientSummary(person_id, can_receive=False, reason=reason)
        return summary

    def _check_serial(self) -> None:
        errors = [
            (f"connectors.{self.name}.serial[{i}].device_id", None, f"{p.device_id} is not a registered device")
            for i, p in enumerate(self.settings.serial)
            if self.registry.device(p.device_id) is None
        ]
        zones = [(f"connectors.{self.name}.timezone", self.settings.timezone or self.context.timezone)]
        devices = self.settings.devices.items()
        zones += [(f"connectors.{self.name}.devices.{d}.timezone", e.timezone) for d, e in devices]
        for where, zone in zones:
            try:
                if zone:
                    ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                errors.append((where, None, f"{zone!r} is not an IANA time zone (e.g. Asia/Tokyo)"))
        if errors:
            self.registry.close()
            raise ConfigError(f"bedside {self.name}: unregistered serial device or unknown time zone", errors)

    # -- Source -----------------------------------------------------------------------------------
    def scan(self) -> Iterator[SourceItem]:
        return iter(())  # readings are pushed by taps, never listed

    def read(self, key: str) -> bytes:
        raise InputError(f"{key}: a bedside reading cannot be read again from the device; the stored bytes are used")

    def parse(self, key: str, raw: bytes) -> Parsed:
        return parse_tap_record(key, raw)

    def close(self) -> None:
        self.stop()
        self.registry.close()

    # -- PushSource -------------------------------------------------------------------------------
    def start(self, ingest: Ingest) -> None:
        self.session = TapSession(
            self.registry, ingest, self.tap_config, patient_for_tag=self.context.patient_for_tag,
            patient_by_id=self._patient_by_id, on_outcome=self._record_outcome, reader=self.name,
        )  # fmt: skip
        if self.settings.nfc:
            self.reader = NfcReader(
                self.settings.nfc,
                self.session,
                targets=self.settings.targets,
                reply_timeout=self.settings.phdc_reply_timeout,
                on_outcome=self._reader_outcome,
            )
            self.reader.start()
        for i, port in enumerate(self.settings.serial):
            feed = SerialFeed(
                port.url,
                port.protocol,
                norm_id(port.device_id),
                self.session,
                baudrate=port.baudrate,
                take=port.take,
                reconnect_seconds=port.reconnect_seconds,
                label=f"{self.name}.serial[{i}]",
            )
            self.serial_feeds.append(feed)
            feed.start()

    def stop(self) -> None:
        if self.reader is not None:
            self.reader.stop()
            self.reader = None
        for feed in self.serial_feeds:
            feed.stop()
        self.serial_feeds = []

    def _reader_outcome(self, outcome: TapOutcome) -> None:
        """The reader's own conclusion per tap: a broken link (no session outcome) is told too ("tap again")."""
        if outcome.code == "read-failed":
            outcome.reader = self.name
            self.context.publish(outcome.event())

    def _record_outcome(self, outcome: TapOutcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)
            del self.outcomes[:-100]
            # a monitor streaming outside a session repeats the same refusal every second: log it once
            repeated = not outcome.ok and self._last_refusal.get(outcome.device_id) == outcome.code
            if not outcome.device_id:  # an identity tap starts a new context: tell every refusal again
                self._last_refusal.clear()
            elif outcome.ok:
                self._last_refusal.pop(outcome.device_id, None)
            elif outcome.device_id:
                self._last_refusal[outcome.device_id] = outcome.code
        if outcome.stored or outcome.held or outcome.rejected:
            detail = f"bedside {outcome.code} from device {outcome.device_id} by {outcome.nurse_id}"
            self.context.audit("device-reading", outcome.patient_id, detail)
        if not repeated:  # the nurse is told (the tap-station page); the log gets ids and codes, no patient data
            self.context.publish(outcome.event())
            level = logging.INFO if outcome.ok else logging.WARNING
            log.log(level, "bedside %s: %s signal=%s (device %s, nurse %s)", self.name, outcome.code,
                    outcome.signal, outcome.device_id or "-", outcome.nurse_id or "-")  # fmt: skip


def parse_tap_record(key: str, raw: bytes) -> Parsed:
    """The stored tap record -> Parsed(VITALS); InputError naming the key and the field on bad input."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{key}: tap record is not UTF-8 JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{key}: tap record is not a JSON object")
    if data.get("version") not in (1, RECORD_VERSION):  # version 1: before verdicts, every record posted
        raise InputError(f"{key}: tap record version {data.get('version')!r}, expected {RECORD_VERSION}")
    verdict = data.get("verdict", "post")
    if verdict != "post":  # held for the nurse's confirmation, or not a value: kept, quarantined, never posted
        reasons = "; ".join(reason_message(str(r)).partition(" / ")[2] for r in data.get("reasons") or [])
        what = "held for the nurse's confirmation" if verdict == "hold" else "refused (not a valid measurement)"
        raise InputError(f"{key}: bedside reading {what}: {reasons or 'no reason recorded'}")
    patient_id = data.get("patient_id")
    if not isinstance(patient_id, str) or not patient_id:
        raise InputError(f"{key}: tap record has no patient_id")
    records: list[Record] = []
    for i, o in enumerate(data.get("observations") or []):
        try:
            record = Record.from_dict(o)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{key}: observations[{i}]: {type(exc).__name__}: {exc}") from exc
        if not isinstance(record, Observation) or record.patient_id != patient_id:
            raise InputError(f"{key}: observations[{i}] is not an observation of patient {patient_id}")
        records.append(record)
    if not records:
        raise InputError(f"{key}: tap record carries no observations")
    nurse = data.get("nurse_id")
    if isinstance(nurse, str) and nurse:  # the post names the nurse who measured
        records.append(Note(patient_id=patient_id, text="", tags=["measured-by"], author=nurse))
    confirmer = data.get("confirmed_by")
    if isinstance(confirmer, str) and confirmer:  # a held reading a nurse confirmed (`renkei devices confirm`)
        records.append(Note(patient_id=patient_id, text="", tags=["confirmed-by"], author=confirmer))
    warnings = []
    offset = data.get("clock_offset_s")
    if isinstance(offset, int | float) and any("clock_offset" in getattr(r, "flags", ()) for r in records):
        warnings.append(f"device clock differs from the gateway by {offset:+.0f} s")
    return Parsed(records=records, patient_id=patient_id, data_type=DATA_TYPE, warnings=warnings)


def confirmed_record(key: str, raw: bytes, nurse_id: str) -> tuple[SourceItem, bytes]:
    """A held tap record, confirmed by a nurse: the same reading to post, naming who confirmed it.

    Only a HOLD can be confirmed (a refused reading is not a value); the confirmed record gets its own key
    (the held one stays quarantined as it was) and flags `confirmed` on each observation."""
    data = json.loads(raw.decode("utf-8"))
    if data.get("verdict") != "hold":
        what = "refused (not a valid measurement)" if data.get("verdict") == "refuse" else "not held"
        raise InputError(f"{key}: this bedside reading is {what}; only a held reading can be confirmed")
    if not nurse_id:
        raise InputError(f"{key}: a confirmation names the nurse who confirmed it")
    for o in data.get("observations") or []:
        o["flags"] = [*o.get("flags", []), "confirmed"]
    data.update(verdict="post", confirmed_by=nurse_id)
    out = json.dumps(data, ensure_ascii=False, sort_keys=True).encode()
    fingerprint = hashlib.sha256(out).hexdigest()[:16]
    return SourceItem(f"{key}:confirmed", fingerprint, str(data.get("patient_id") or "")), out

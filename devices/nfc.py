"""The NFC reader loop (nfcpy 1.0.4): real readers (`usb`, `usb:054c:06c3`, `tty:USB0:pn532`) and nfcpy's
`udp[:host:port]` emulation driver, feeding the bedside tap session.

Each tag that touches the reader is handled once, then the loop waits until it leaves the field (nfcpy's
presence check), so a tag resting on the reader is not read over and over:
- a PHD record (`urn:nfc:wkt:PHD`, header 0x00) makes it a PHDC agent: `PhdcManagerLink` runs the
  read-clear-poll cycle on the tag's NDEF data, asks the session to admit the device before accepting
  its association, reads the device's own clock (a GET of the MDS attributes) and stores each report,
  with that clock, before confirming it;
- a record that an installed vendor decoder (`renkei.device_decoders`) recognises is a device reading
  whose device id is the tag id;
- anything else is an identity tag (badge, wristband, card): its id (FeliCa IDm / NFC UID) and NDEF
  records go to the session.
The reader signals every outcome, after the store committed, with a distinct LED/buzzer pattern (see
`PATTERNS`): success (green, one short beep), attention (a reading held for the nurse's confirmation:
orange, two beeps) and refusal (red, three beeps). nfcpy 1.0.4 exposes LED and buzzer control only in
its ACR122U driver (`Chipset.ccid_xfr_block` with the reader's "FF 00 40" LED/buzzer command; nfcpy's
own `turn_on_led_and_buzzer` there is one fixed pattern); other drivers (PaSoRi, PN53x, `udp`) have
none, so there it is a no-op. Each pattern is recorded in `signals` either way, so tests can assert it.
Every failure is logged with ids only and reported to the session's outcome callback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from renkei.devices.errors import DeviceCodecError
from renkei.devices.ndef_phdc import (
    NdefRecord,
    PhdcLinkError,
    PhdcManagerLink,
    decode_message,
    decode_phd,
    decode_vendor,
    phd_payload,
)
from renkei.devices.phd_configs import Configuration
from renkei.devices.phd_manager import PhdManager
from renkei.devices.tap import TapOutcome, TapSession
from renkei.devices.tap_messages import MESSAGES
from renkei.errors import ConfigError
from renkei.records import Observation

log = logging.getLogger("renkei.devices.nfc")

READ_FAILED = "読み取りに失敗しました。もう一度タッチしてください / Reading failed: tap again"


class _NotStored(Exception):
    """The session refused a report: the PHDC link must not confirm it."""

    def __init__(self, outcome: TapOutcome) -> None:
        super().__init__(outcome.code)
        self.outcome = outcome


# ACR122U API 2.04, "Bi-Color LED and Buzzer Control": FF 00 40 P2 04 T1 T2 repetitions buzzer-link.
# P2 bits: final red/green, red/green mask, initial red/green blink, red/green blink mask; T1/T2 in 100 ms.
PATTERNS: dict[str, bytes] = {
    "success": bytes.fromhex("FF0040AA0401010101"),  # green blink once, one short beep
    "attention": bytes.fromhex("FF0040FF0402020201"),  # red+green (orange) twice, two beeps
    "refusal": bytes.fromhex("FF0040550402010301"),  # red blink three times, three beeps
}


def signal_reader(device: Any, pattern: str) -> bool:
    """Show `pattern` on the reader if its nfcpy driver can (ACR122U); False when it has no LED/buzzer."""
    chipset = getattr(device, "chipset", None)
    acr122 = hasattr(chipset, "ccid_xfr_block") and hasattr(chipset, "set_buzzer_and_led_to_active")
    if not acr122:
        return False  # only nfcpy's acr122 driver has both: the udp driver and PaSoRi/PN53x have no indicators
    command = PATTERNS[pattern]
    chipset.ccid_xfr_block(bytearray(command), timeout=(command[5] + command[6]) * command[7] / 10 + 0.2)
    return True


def default_targets(path: str) -> list[str]:
    # nfcpy's udp driver waits ~1 s per target kind that nobody answers, and it only emulates Type 3
    # (FeliCa, 212F): polling for A/B there would triple the time to notice a tag.
    return ["212F"] if path.startswith("udp") else ["106A", "106B", "212F"]


class NfcReader:
    """Polls one reader in its own thread and hands each tap to `session`."""

    def __init__(
        self,
        path: str,
        session: TapSession,
        *,
        targets: Sequence[str] | None = None,
        on_outcome: Callable[[TapOutcome], None] | None = None,
        extended_configs: dict[str, dict[int, Configuration]] | None = None,
        reply_timeout: float = 3.0,
    ) -> None:
        self.path = path
        self.session = session
        self.targets = list(targets or default_targets(path))
        self.on_outcome = on_outcome or (lambda _o: None)
        # shared across links so an extended configuration is learnt once per device
        self.extended_configs: dict[str, dict[int, Configuration]] = extended_configs or {}
        self.reply_timeout = reply_timeout
        self.no_clock_devices: set[str] = set()  # devices that do not answer the MDS GET: not asked again
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clf: Any = None
        self.taps = 0
        self.signals: list[str] = []  # every pattern signalled (recorded also where the reader has none)

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        import nfc  # imported here: nfcpy pulls in libusb bindings that only the reader needs

        try:
            self._clf = nfc.ContactlessFrontend(self.path)
        except (OSError, LookupError) as exc:
            raise ConfigError(f"NFC reader {self.path!r} cannot be opened: {exc}") from exc
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"nfc:{self.path}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._clf is not None:
            self._clf.close()
            self._clf = None

    def _run(self) -> None:
        options = {
            "targets": self.targets,
            "on-connect": self._on_connect,
            "on-release": lambda _tag: True,
            "iterations": 1,
            "interval": 0.05,
            "beep-on-connect": False,  # we beep ourselves, only after the store committed
        }
        while not self._stop.is_set():
            result = self._clf.connect(rdwr=options, terminate=self._stop.is_set)
            if result is False and not self._stop.is_set():
                log.error("NFC reader %s reported an error; retrying in 1 s", self.path)
                self._stop.wait(1.0)

    def _on_connect(self, tag: Any) -> bool:
        started = time.perf_counter()
        outcome = self.handle_tag(tag)
        self.taps += 1
        self.signals.append(outcome.signal)
        try:
            signal_reader(tag.clf.device, outcome.signal)
        except OSError as exc:  # a reader that cannot flash still served the tap
            log.warning("reader %s: LED/buzzer signal failed: %s", self.path, exc)
        log.info(
            "tap %s: %s ok=%s signal=%s device=%s (%.0f ms)",
            tag.identifier.hex().upper(), outcome.code, outcome.ok, outcome.signal,
            outcome.device_id or "-", (time.perf_counter() - started) * 1000,
        )  # fmt: skip
        self.on_outcome(outcome)
        return True  # wait for the tag to leave before sensing again

    # -- one tag ----------------------------------------------------------------------------------
    def handle_tag(self, tag: Any) -> TapOutcome:
        """Classify and serve one activated nfcpy tag; never raises for a bad tag or a broken link."""
        tag_id = tag.identifier.hex().upper()
        try:
            octets = _read_octets(tag)
            records: list[NdefRecord] = []
            if octets:
                try:
                    records = decode_message(octets)
                except DeviceCodecError as exc:
                    log.warning("tag %s: NDEF data unreadable (%s); using the tag id only", tag_id, exc)
            payload = phd_payload(records)
            if payload is not None:
                return self._phdc(tag, payload, octets)
            vendor = decode_vendor(records, tag_id)
            if vendor is not None:
                name, observations = vendor
                log.debug("tag %s: decoded by vendor plugin %s", tag_id, name)
                refusal = self.session.admit_device(tag_id)
                if refusal:
                    return TapOutcome(False, "refused", refusal, device_id=tag_id)
                return self.session.reading(tag_id, observations)
            return self.session.tag(tag_id, records)
        except Exception as exc:  # a broken link, a bad device or a failed store: report and keep polling
            log.error("tap %s failed: %s: %s", tag_id, type(exc).__name__, exc)
            return TapOutcome(False, "read-failed", READ_FAILED, device_id=tag_id)

    def _phdc(self, tag: Any, payload: bytes, octets: bytes) -> TapOutcome:
        first = decode_phd(payload)
        last: list[TapOutcome] = []

        def commit(device_id: str, observations: list[Observation]) -> None:
            # the device's own clock, read by the link's GET of the MDS: the session flags a clock that is off
            outcome = self.session.reading(device_id, observations, device_clock=link.manager.device_clock)
            last.append(outcome)
            if not outcome.device_ack:  # not durably stored: the device keeps it in memory
                raise _NotStored(outcome)

        def write(data: bytes) -> None:
            from nfc.tag import TagCommandError

            try:
                tag.ndef.octets = data
            except (TagCommandError, AttributeError, TypeError) as exc:
                # nfcpy 1.0.4's Type 3 write re-reads the attribute block and, when that read fails (tag
                # leaving, a lost frame), indexes None: a TypeError. Either way the link is gone.
                raise PhdcLinkError(f"NDEF write failed: {type(exc).__name__}: {exc}") from exc

        link = PhdcManagerLink(
            lambda: _read_octets(tag, refresh=True),
            write,
            manager=PhdManager(extended_configs=self.extended_configs),
            admit=self.session.admit_device,
            commit=commit,
            reply_timeout=self.reply_timeout,
            no_clock_devices=self.no_clock_devices,
        )
        try:
            result = link.run(first)
        except _NotStored as exc:
            try:
                write(encode_abort(link))
            except PhdcLinkError as link_exc:  # the refusal stands; the agent times out on its own
                log.warning("tag %s: abort not written: %s", tag.identifier.hex().upper(), link_exc)
            return exc.outcome
        except (PhdcLinkError, DeviceCodecError) as exc:
            log.warning("PHDC link with tag %s broke off: %s", tag.identifier.hex().upper(), exc)
            return TapOutcome(False, "read-failed", READ_FAILED, device_id=link.manager.device_id)
        if result.refused:
            return TapOutcome(False, "refused", result.refused, device_id=result.device_id)
        if not last:
            outcome = TapOutcome(False, "no-observations", "測定値がありません / The device sent no reading")
            outcome.device_id = result.device_id
            return outcome
        return merge_outcomes(last)


def merge_outcomes(last: list[TapOutcome]) -> TapOutcome:
    """One device tap's outcome from its reports' outcomes: the worst verdict decides the signal."""
    merged = last[-1]
    merged.stored = sum(o.stored for o in last)
    merged.duplicates = sum(o.duplicates for o in last)
    merged.held = sum(o.held for o in last)
    merged.rejected = sum(o.rejected for o in last)
    merged.message_ids = [m for o in last for m in o.message_ids]
    merged.values = [v for o in last for v in o.values]
    merged.reasons = list(dict.fromkeys(r for o in last for r in o.reasons))
    merged.ok = all(o.ok for o in last)
    code = next((c for c in ("reading-invalid", "reading-held") if any(o.code == c for o in last)), "")
    if not code and all(o.ok for o in last):
        code = "reading-stored" if merged.stored else "reading-duplicate"
    if code:
        merged.code, merged.message = code, MESSAGES[code]
    return merged


def encode_abort(link: PhdcManagerLink) -> bytes:
    """An ABRT in the PHD record that follows the link's last message (the report stays unconfirmed)."""
    from renkei.devices.ndef_phdc import PhdMessage, encode_phd

    return encode_phd(PhdMessage(link.next_counter, link.manager.abort()))


def _read_octets(tag: Any, refresh: bool = False) -> bytes:
    ndef = tag.ndef
    if ndef is None:
        return b""
    if refresh and ndef.has_changed and tag.ndef is None:
        return b""  # the tag left during the read
    return bytes(ndef.octets) if ndef.length else b""

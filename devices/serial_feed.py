"""One bedside serial device: a port read in its own thread, each decoded reading handed to the tap session.

    feed = SerialFeed("socket://127.0.0.1:7001", "masimo", "0011223344550001", session)
    feed.start()      # opens the port (retrying while it is absent), decodes, calls session.reading()
    feed.stop()

The port is a `SerialFrameReader` (any pyserial URL: /dev/ttyUSB0, socket://, rfc2217://, loop://) with
the protocol's incremental decoder (`PROTOCOLS`). Every reading goes through the same `TapSession` as NFC
readings: badge -> wristband -> reading within the window, durably stored before it counts, plausibility
flags, idempotency keys. The configured `device_id` (the registry's system id) names the device, never
the serial number the device prints.

Judgement: a bedside monitor prints continuously (a Rad-8 once a second), so by default (`take="first"`)
only the first reading accepted after a wristband tap is taken; the next one for this port waits for a
new wristband tap. `take="all"` hands every reading to the session (a scale or a device that prints only
on demand); repeats are then de-duplicated by the idempotency key as for NFC.

Failures never end the thread: a malformed line or frame is logged with its stream byte offset and the
decoder's reason (no patient data); a broken link is logged once and the port is reopened every
`reconnect_seconds`; a failed store is logged and the reading is not confirmed.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Literal

from renkei.devices.errors import DecoderFault
from renkei.devices.intellivue import IntelliVueDecoder
from renkei.devices.serial_port import DeviceTransportError, SerialFrameReader
from renkei.devices.serial_protocols import AndWeightDecoder, MasimoDecoder, Reading, StreamDecoder
from renkei.devices.tap import TapOutcome, TapSession

log = logging.getLogger("renkei.devices.serial_feed")

PROTOCOLS: dict[str, Callable[[str], StreamDecoder]] = {
    "masimo": MasimoDecoder,
    "and": AndWeightDecoder,
    "intellivue": IntelliVueDecoder,
}

Take = Literal["first", "all"]


class SerialFeed:
    """A serial port plus decoder in a thread, feeding `session`. `counts` tallies what happened."""

    def __init__(
        self,
        url: str,
        protocol: str,
        device_id: str,
        session: TapSession,
        *,
        baudrate: int = 9600,
        take: Take = "first",
        reconnect_seconds: float = 1.0,
        read_timeout: float = 0.1,
        label: str = "",
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown serial protocol {protocol!r} (want {', '.join(sorted(PROTOCOLS))})")
        self.url = url
        self.protocol = protocol
        self.device_id = device_id
        self.session = session
        self.baudrate = baudrate
        self.take = take
        self.reconnect_seconds = reconnect_seconds
        self.read_timeout = read_timeout
        self.label = label or url
        self.counts: Counter[str] = Counter()  # frames, bad-frames, skipped, <outcome code>, store-failed, …
        self._taken: tuple[str, float] | None = None  # the wristband tap a reading was already taken for
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- thread -----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"serial:{self.label}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        down_logged = False
        while not self._stop.is_set():
            try:
                decoder = PROTOCOLS[self.protocol](self.device_id)
                reader = SerialFrameReader(self.url, decoder, baudrate=self.baudrate, timeout=self.read_timeout)
            except DeviceTransportError as exc:
                if not down_logged:
                    log.warning("serial %s: %s; retrying every %g s", self.label, exc, self.reconnect_seconds)
                    down_logged = True
                self.counts["open-failed"] += 1
                self._stop.wait(self.reconnect_seconds)
                continue
            if down_logged:
                log.info("serial %s: port open", self.label)
                down_logged = False
            try:
                while not self._stop.is_set():
                    for reading in reader.read():
                        self.handle(reading)
            except DeviceTransportError as exc:
                log.warning("serial %s: link lost (%s); reopening", self.label, exc)
                self.counts["link-lost"] += 1
                down_logged = True
            except Exception:  # never end the thread: log the fault, reopen with a fresh decoder
                log.exception("serial %s: decoder fault; reopening the port with a fresh decoder", self.label)
                self.counts["decoder-fault"] += 1
                self._stop.wait(self.reconnect_seconds)
            finally:
                try:
                    for reading in reader.flush():  # an unterminated last line or frame
                        self.handle(reading)
                except Exception:
                    log.exception("serial %s: decoder fault while flushing", self.label)
                    self.counts["decoder-fault"] += 1
                reader.close()

    # -- one reading ------------------------------------------------------------------------------
    def handle(self, reading: Reading) -> TapOutcome | None:
        """Hand one decoded reading to the session; None when it was bad, empty or skipped."""
        self.counts["frames"] += 1
        if reading.error is not None:
            self.counts["bad-frames"] += 1
            log.warning(
                "serial %s (%s): bad frame at byte offset %d, skipped: %s",
                self.label,
                self.protocol,
                reading.error.offset,
                reading.error.reason,
                exc_info=reading.error.__cause__ if isinstance(reading.error, DecoderFault) else None,
            )
            return None
        if not reading.observations:  # overload, count mode, dashes: nothing measured
            self.counts["empty"] += 1
            return None
        tap = self.session.wristband_tap() if self.take == "first" else None
        if tap is not None and tap[0] and tap == self._taken:
            self.counts["skipped"] += 1
            return None
        try:
            outcome = self.session.reading(self.device_id, reading.observations)
        except Exception as exc:  # the store failed: nothing confirmed; the port goes on for the next reading
            self.counts["store-failed"] += 1
            log.error(
                "serial %s: reading at byte offset %d not stored: %s: %s",
                self.label,
                reading.offset,
                type(exc).__name__,
                exc,
            )
            return None
        self.counts[outcome.code] += 1
        if outcome.code == "store-failed":  # the session logged why and told the nurse; name the input here
            log.error("serial %s: reading at byte offset %d not stored", self.label, reading.offset)
        if outcome.ok and tap is not None:
            self._taken = tap
        return outcome

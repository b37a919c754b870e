"""Read a serial device through any pyserial URL and decode it incrementally.

    with SerialFrameReader("socket://127.0.0.1:7001", MasimoDecoder()) as reader:
        for reading in reader.readings(idle_timeout=2.0):
            ...

`url` is anything `serial.serial_for_url` opens: a device path (/dev/ttyUSB0, a pty from
os.openpty()), `loop://` (what is written comes back: tests and demos), `socket://host:port`,
`rfc2217://host:port`. An already open `serial.SerialBase` can be passed instead. The reader owns the
decoder and hands back `Reading`s (see `serial_protocols`); bad frames come back with `.error` set and
reading goes on. pyserial's own SerialException is translated to DeviceTransportError.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import serial

from renkei.devices.serial_protocols import Reading, StreamDecoder
from renkei.errors import RenkeiError


class DeviceTransportError(RenkeiError):
    """The serial link itself failed (port missing, closed, unplugged): not a data problem."""


class SerialFrameReader:
    """A pyserial port plus a StreamDecoder. `read()` does one read; `readings()` loops."""

    def __init__(
        self,
        port: str | serial.SerialBase,
        decoder: StreamDecoder,
        *,
        baudrate: int = 9600,
        timeout: float = 0.1,
        **kwargs: Any,
    ) -> None:
        self.decoder = decoder
        if isinstance(port, str):
            try:
                self.port: serial.SerialBase = serial.serial_for_url(port, baudrate=baudrate, timeout=timeout, **kwargs)
            except (serial.SerialException, ValueError) as exc:
                raise DeviceTransportError(f"cannot open serial port {port!r}: {exc}") from exc
        else:
            self.port = port
        self.bytes_read = 0

    def read(self, max_bytes: int = 4096) -> list[Reading]:
        """Read what is there (waiting up to the port timeout for the first byte) and decode it."""
        try:
            waiting = self.port.in_waiting
            data = self.port.read(min(max(waiting, 1), max_bytes))
        except serial.SerialException as exc:
            raise DeviceTransportError(f"serial read failed: {exc}") from exc
        self.bytes_read += len(data)
        return self.decoder.feed(data) if data else []

    def readings(self, *, idle_timeout: float | None = None) -> Iterator[Reading]:
        """Yield readings until nothing arrived for `idle_timeout` seconds (None: forever); then flush."""
        last = time.monotonic()
        while True:
            before = self.bytes_read
            yield from self.read()
            now = time.monotonic()
            if self.bytes_read != before:
                last = now
            elif idle_timeout is not None and now - last >= idle_timeout:
                yield from self.decoder.flush()
                return

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except serial.SerialException as exc:
            raise DeviceTransportError(f"serial write failed: {exc}") from exc

    def flush(self) -> list[Reading]:
        return self.decoder.flush()

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> SerialFrameReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

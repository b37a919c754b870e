"""Serve a device's serial line format on a loopback TCP port, for pyserial's `socket://host:port` URL.

pyserial's socket:// handler is a TCP client, so the simulated device is the server: it accepts one
client and writes its lines (oximeter: Masimo ASCII-1; scale: A&D balance output) with the codec
engineer's encoders. `bad=True` interleaves a malformed line before each good one; `repeat=N` sends each
good line N times, as a device resending its last result.
"""

from __future__ import annotations

import socket
import time
from datetime import datetime
from urllib.parse import urlparse

from renkei.devices.serial_protocols import encode_and_line, encode_masimo_line


def lines_for(kind: str, when: datetime | None, count: int, bad: bool, repeat: int = 1) -> list[bytes]:
    if kind == "oximeter":
        good = [encode_masimo_line(97 - i % 3, 68 + i, pi="03.60", when=when) for i in range(count)]
        broken = b"SPO2=9X7% BPM=\r\n"
    elif kind == "scale":
        good = [encode_and_line(f"{52.4 + i / 10:.1f}", "kg") for i in range(count)]
        broken = b"ST,+0005?.400 kg\r\n"
    else:
        raise ValueError(f"{kind} has no serial line format here; serial simulation covers oximeter and scale")
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, not {repeat}")
    return [x for line in good for x in ([broken] if bad else []) + [line] * repeat]


def serve_lines(
    url: str,
    kind: str,
    *,
    when: datetime | None,
    count: int,
    bad: bool,
    wait: float,
    interval: float = 0.1,
    repeat: int = 1,
) -> int:
    """Accept one client on the socket:// URL's loopback host:port, send the lines; returns lines sent."""
    parsed = urlparse(url)
    if parsed.scheme != "socket" or not parsed.port:
        raise ValueError(f"{url!r}: give socket://127.0.0.1:PORT")
    host = parsed.hostname or "127.0.0.1"
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"{url!r}: the simulator serves on loopback only")
    lines = lines_for(kind, when, count, bad, repeat)
    with socket.create_server((host, parsed.port)) as server:
        server.settimeout(wait)
        conn, _addr = server.accept()
        with conn:
            for line in lines:
                # a device prints periodically (Rad-8: once a second); sending at once would also race
                # pyserial's open(), which discards whatever already arrived (reset_input_buffer)
                time.sleep(interval)
                conn.sendall(line)
    return len(lines)

"""Slow and hostile peers, on real sockets: a per-message deadline, per-peer and global connection limits,
and idle connections giving way first, so a legitimate sender still gets its ACKs.

Peers use distinct loopback source addresses (127.0.0.x, all routed to `lo` on Linux), so per-address
limits are exercised as a real network would.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from renkei.connectors.mllp.framing import FrameDecoder, frame

from .test_listener import _stored


class Tricklers:
    """`count` connections, each sending the start of a message one byte every `interval` seconds and
    reconnecting whenever the listener closes it (an attacker, or a badly broken sender)."""

    def __init__(self, port: int, sources: list[str], interval: float = 0.5) -> None:
        self.port, self.sources, self.interval = port, sources, interval
        self.socks: list[socket.socket | None] = [None] * len(sources)
        self.closed_by_server = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.body = frame(b"MSH|^~\\&|SLOW|SEND|RENKEI|RCV|20240401090000||ADT^A08|SLOW|P|2.5\r" * 20)

    def __enter__(self) -> Tricklers:
        for i in range(len(self.sources)):
            self._connect(i)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for s in self.socks:
            if s is not None:
                s.close()

    def _connect(self, i: int) -> None:
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2, source_address=(self.sources[i], 0))
            s.setblocking(False)
            self.socks[i] = s
        except OSError:
            self.socks[i] = None

    def _run(self) -> None:
        sent = 0
        while not self._stop.wait(self.interval):
            byte = self.body[sent % len(self.body) : sent % len(self.body) + 1]
            sent += 1
            for i, s in enumerate(self.socks):
                if s is None:
                    self._connect(i)
                    continue
                try:
                    s.send(byte)
                    if s.recv(1) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    pass  # nothing to read: still open
                except OSError:
                    s.close()
                    self.closed_by_server += 1
                    self._connect(i)


def _send(port: int, payload: bytes, source: str = "127.0.0.1", timeout: float = 5) -> bytes:
    """One message from a well-behaved sender; returns the ACK frame's content (b"" if refused)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0)) as s:
        s.sendall(frame(payload))
        d, got = FrameDecoder(), []
        while not got:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return b""
            if not chunk:
                return b""
            got = d.feed(chunk)
        return got[0]


@pytest.fixture
def loopback_aliases() -> Iterator[None]:
    try:
        with socket.create_connection(("127.0.0.1", 9), timeout=1, source_address=("127.0.0.99", 0)):
            pass
    except ConnectionRefusedError:
        pass  # the source address was usable (nothing listens on port 9)
    except OSError as exc:
        pytest.skip(f"this system cannot bind 127.0.0.x source addresses: {exc}")
    yield


def test_seventy_slow_peers_on_one_address_leave_a_sender_its_acks(running, messages, loopback_aliases) -> None:
    engine, listener = running()  # defaults: 8 connections per address, 64 in all
    with Tricklers(listener.port, ["127.0.0.2"] * 70):
        time.sleep(1.0)
        assert listener._table.per_peer.get("127.0.0.2") == 8
        for n in range(5):
            ack = _send(listener.port, messages.ADT(f"LEGIT{n}").encode())
            assert f"MSA|AA|LEGIT{n}".encode() in ack
    assert [key for key, _state, _reason in _stored(engine)] == [f"HIS^SEND|LEGIT{n}" for n in range(5)]


def test_seventy_slow_peers_on_seventy_addresses_leave_a_sender_its_acks(running, messages, loopback_aliases) -> None:
    """Every slot taken by a different trickling address (and the six left over reconnecting all the
    time): the oldest message in progress gives way to each newcomer, and the sender is served."""
    engine, listener = running()
    with Tricklers(listener.port, [f"127.0.1.{i}" for i in range(1, 71)]) as slow:
        time.sleep(2.0)
        assert listener.connections == 64  # the cap holds; 6 kept being refused
        for n in range(5):
            ack = _send(listener.port, messages.ADT(f"LEGIT{n}").encode())
            assert f"MSA|AA|LEGIT{n}".encode() in ack
        assert slow.closed_by_server >= 5
    assert len(_stored(engine)) == 5


def test_a_trickled_message_is_cut_at_its_deadline_whatever_the_idle_timer(running, messages) -> None:
    engine, listener = running("message_deadline: 0.8\nidle_timeout: 30")
    body = frame(messages.ADT("TRICKLE").encode())
    with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as s:
        started = time.monotonic()
        closed_after = None
        for i in range(len(body) - 1):  # every byte but the last: a byte each 0.1 s
            try:
                s.sendall(body[i : i + 1])
            except OSError:
                closed_after = time.monotonic() - started
                break
            s.settimeout(0.1)
            try:
                if s.recv(1) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                pass
        assert closed_after is not None and 0.7 < closed_after < 3
    assert _stored(engine) == []  # never complete, never stored, never ACKed
    assert listener.connections == 0


def test_at_the_cap_an_idle_connection_gives_way_before_a_slow_one(running, messages) -> None:
    _engine, listener = running("max_connections: 3\nshed_after: 0.3\nmessage_deadline: 30")
    idle = socket.create_connection(("127.0.0.1", listener.port), timeout=5)
    slow = [socket.create_connection(("127.0.0.1", listener.port), timeout=5) for _ in range(2)]
    try:
        idle.sendall(frame(messages.ADT("IDLE").encode()))
        assert b"MSA|AA|IDLE" in idle.recv(65536)
        for s in slow:
            s.sendall(b"\x0bMSH|^~\\&|")  # a message begun, never finished
        time.sleep(0.5)
        assert b"MSA|AA|NEW1" in _send(listener.port, messages.ADT("NEW1").encode())
        idle.settimeout(2)
        assert idle.recv(65536) == b""  # the idle one was closed for the newcomer
        for s in slow:  # the slow ones are still open (nothing to read, no EOF)
            s.settimeout(0.2)
            with pytest.raises(TimeoutError):
                s.recv(1)
        # Full again, no idle connection: the message in progress that began first gives way.
        slow.append(socket.create_connection(("127.0.0.1", listener.port), timeout=5))
        slow[-1].sendall(b"\x0bMSH|^~\\&|")
        time.sleep(0.2)
        assert b"MSA|AA|NEW2" in _send(listener.port, messages.ADT("NEW2").encode())
        still_open = []
        for s in slow:
            s.settimeout(0.5)
            try:
                still_open.append(s.recv(1) != b"")
            except TimeoutError:
                still_open.append(True)
        assert still_open == [False, True, True]
    finally:
        idle.close()
        for s in slow:
            s.close()


def test_at_the_cap_nothing_fresh_gives_way(running, messages) -> None:
    """Connections that just made progress are not closed for a newcomer: it is refused instead."""
    _engine, listener = running("max_connections: 2")  # shed_after default 2 s
    held = [socket.create_connection(("127.0.0.1", listener.port), timeout=5) for _ in range(2)]
    try:
        for n, s in enumerate(held):
            s.sendall(frame(messages.ADT(f"H{n}").encode()))
            assert b"MSA|AA" in s.recv(65536)
        assert _send(listener.port, messages.ADT("LATE").encode()) == b""
    finally:
        for s in held:
            s.close()

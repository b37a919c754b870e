"""The mllp-sender destination: ACK mapping, retries, persistent connection, idempotency."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from renkei.connectors.mllp import FrameDecoder, MLLPSender, build_ack, frame, read_header
from renkei.errors import PermanentDeliveryError, RetryableDeliveryError
from renkei.pipelines.schema import messages as messages_table


def _sender(port: int, **kw) -> MLLPSender:
    settings = {"host": "127.0.0.1", "port": port, "backoff_seconds": 0, "ack_timeout": 5, **kw}
    return MLLPSender("out", MLLPSender.Settings(**settings))


def _keys(engine) -> list[str]:
    with engine.store.read() as conn:
        return [r[0] for r in conn.execute(sa.select(messages_table.c.source_key).order_by(messages_table.c.id))]


def test_aa_gives_a_receipt_over_one_persistent_connection(running, messages) -> None:
    engine, listener = running()
    with _sender(listener.port) as out:
        receipts = [out.deliver({"hl7": messages.ADT(f"S{i}").replace("\r", "\n")}, f"key{i}") for i in range(3)]
        assert listener.connections == 1
    assert receipts == [f"127.0.0.1:{listener.port}/S{i}" for i in range(3)]
    assert _keys(engine) == ["HIS^SEND|S0", "HIS^SEND|S1", "HIS^SEND|S2"]


def test_same_idempotency_key_is_not_sent_twice(running, messages) -> None:
    engine, listener = running()
    with _sender(listener.port) as out:
        first = out.deliver({"hl7": messages.ADT("ONCE")}, "k")
        listener.stop()  # a second send could not reach anyone
        assert out.deliver({"hl7": messages.ADT("ONCE")}, "k") == first
    assert _keys(engine) == ["HIS^SEND|ONCE"]


def test_empty_control_id_is_derived_from_the_idempotency_key(running, messages) -> None:
    engine, listener = running()
    text = messages.ADT("").replace("ADT_A01||P", "ADT_A01||P")
    with _sender(listener.port) as a, _sender(listener.port) as b:
        ra = a.deliver({"text": text}, "same-key")
        rb = b.deliver({"text": text}, "same-key")  # another process's sender: same MSH-10, deduplicated
    assert ra == rb and len(ra.rsplit("/", 1)[1]) == 20
    assert len(_keys(engine)) == 1


def test_ae_and_ar_are_permanent_with_the_reason(running, messages) -> None:
    _engine, listener = running()
    with _sender(listener.port) as out:
        with pytest.raises(PermanentDeliveryError, match=r"refused with AE: .*ZZZ\^Z99 is not supported"):
            out.deliver({"hl7": messages.ADT("E1").replace("ADT^A08^ADT_A01", "ZZZ^Z99")}, "e1")
        with pytest.raises(PermanentDeliveryError, match="cannot encode message E2: MSH-18 character set 'X'"):
            out.deliver({"hl7": messages.ADT("E2", charset="X")}, "e2")
        with pytest.raises(PermanentDeliveryError, match="not an HL7 v2 message"):
            out.deliver({"text": "hello"}, "e3")
    refused = "refused with AR: MSH-18 character set 'X' is not supported"
    # sent as is (the setting overrides MSH-18): the listener rejects it
    with _sender(listener.port, encoding="utf-8") as out, pytest.raises(PermanentDeliveryError, match=refused):
        out.deliver({"hl7": messages.ADT("E2", charset="X")}, "e2")


def test_connection_refused_is_retryable(messages) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once closed
    with (
        _sender(port, attempts=2, connect_timeout=1) as out,
        pytest.raises(RetryableDeliveryError, match="after 2 attempt"),
    ):
        out.deliver({"hl7": messages.ADT("R1")}, "r1")


class FlakyServer:
    """Drops the first `drop` connections after reading a frame, then answers AA; or never answers."""

    def __init__(self, drop: int = 0, silent: bool = False) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.drop, self.silent = drop, silent
        self.connections = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                d, frames = FrameDecoder(), []
                while not frames:
                    data = conn.recv(65536)
                    if not data:
                        break
                    frames = d.feed(data)
                if self.connections <= self.drop or self.silent or not frames:
                    if self.silent:
                        conn.recv(65536)  # hold the connection until the client gives up
                    continue
                conn.sendall(frame(build_ack(read_header(frames[0]), "AA").encode()))
                conn.recv(65536)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def flaky() -> Iterator[type[FlakyServer]]:
    made: list[FlakyServer] = []

    def make(**kw) -> FlakyServer:
        server = FlakyServer(**kw)
        made.append(server)
        return server

    yield make  # type: ignore[misc]
    for server in made:
        server.close()


def test_dropped_connection_is_retried_then_acknowledged(flaky, messages) -> None:
    server = flaky(drop=1)
    with _sender(server.port, attempts=3) as out:
        assert out.deliver({"hl7": messages.ADT("F1")}, "f1") == f"127.0.0.1:{server.port}/F1"
    assert server.connections == 2


def test_ack_timeout_is_retryable(flaky, messages) -> None:
    server = flaky(silent=True)
    with (
        _sender(server.port, attempts=2, ack_timeout=0.2) as out,
        pytest.raises(RetryableDeliveryError, match=r"no ACK for message T1 after 2 attempt\(s\): TimeoutError"),
    ):
        out.deliver({"hl7": messages.ADT("T1")}, "t1")
    assert server.connections == 2

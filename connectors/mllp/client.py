"""A blocking MLLP client over one persistent connection: send a message, wait for its ACK.

    with MLLPClient("127.0.0.1", 2575) as client:
        ack = client.send(message_bytes)        # Ack(code="AA", control_id=<its MSH-10>, …)

`send` frames the bytes, writes them, and reads frames until the ACK whose MSA-2 is the message's MSH-10
(a late ACK to an earlier, timed-out message is skipped). Connection problems raise OSError (including
TimeoutError); after any of them the connection is dropped and the next send reconnects.
"""

from __future__ import annotations

import socket
import ssl
import time

from renkei.connectors.hl7v2 import Ack, HL7Error, read_ack, read_header

from .framing import FrameDecoder, FramingError, frame


class MLLPClient:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        connect_timeout: float = 10.0,
        ack_timeout: float = 30.0,
        max_message_bytes: int = 1 << 20,
    ) -> None:
        self.host, self.port = host, port
        self.tls = tls
        self.connect_timeout = connect_timeout
        self.ack_timeout = ack_timeout
        self.max_message_bytes = max_message_bytes
        self._sock: socket.socket | None = None
        self._decoder = FrameDecoder(max_message_bytes)
        self._pending: list[bytes] = []

    def connect(self) -> None:
        if self._sock is not None:
            return
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self._sock = sock
        self._decoder = FrameDecoder(self.max_message_bytes)
        self._pending = []

    def send(self, message: bytes) -> Ack:
        """Send one message and return its ACK. OSError/TimeoutError on connection trouble.

        A message whose MSH cannot be read (to see a listener reject it) takes the next ACK that comes.
        """
        try:
            control_id: str | None = read_header(message).control_id
        except HL7Error:
            control_id = None
        self.connect()
        sock = self._sock
        assert sock is not None
        try:
            sock.sendall(frame(message))
            deadline = time.monotonic() + self.ack_timeout
            while True:
                while self._pending:
                    ack = _to_ack(self._pending.pop(0))
                    if ack is not None and control_id in (None, ack.control_id):
                        return ack
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no ACK for message {control_id} within {self.ack_timeout:g}s")
                sock.settimeout(left)
                data = sock.recv(1 << 16)
                if not data:
                    raise ConnectionResetError(f"connection closed before the ACK for message {control_id}")
                try:
                    self._pending += self._decoder.feed(data)
                except FramingError as exc:
                    self._pending += exc.frames
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> MLLPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _to_ack(raw: bytes) -> Ack | None:
    try:
        return read_ack(raw.decode("utf-8", errors="replace"))
    except HL7Error:
        return None  # not an ACK: skip it

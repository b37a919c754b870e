"""A stand-in EHR for tests: an MLLP listener on a real socket that keeps every message it receives and
stores each control id (MSH-10) once, as a receiving system that de-duplicates does.

`on_message(raw) -> ack code | None` decides the answer per message: "AA", "AE", "AR", or None for no ACK
at all (the connection is closed, as when the EHR or the network dies before answering)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from renkei.connectors.hl7v2 import build_ack, read_header
from renkei.connectors.mllp.framing import FrameDecoder, frame


class MllpEhr:
    def __init__(self, on_message: Callable[[bytes], str | None] = lambda raw: "AA") -> None:
        self.on_message = on_message
        self.received: list[bytes] = []  # every message as it came, resends included
        self.stored: dict[str, bytes] = {}  # MSH-10 -> message: what the EHR keeps
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.port = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._stopping = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        decoder = FrameDecoder(1 << 20)
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for raw in decoder.feed(data):
                    header = read_header(raw)
                    with self._lock:
                        self.received.append(raw)
                    code = self.on_message(raw)
                    if code is None:
                        return  # no ACK: drop the connection
                    if code == "AA":
                        with self._lock:
                            self.stored.setdefault(header.control_id, raw)
                    text = build_ack(header, code, text="" if code == "AA" else "患者IDが登録されていません")
                    conn.sendall(frame(text.encode("utf-8")))

    def close(self) -> None:
        self._stopping = True
        self._sock.close()

"""mllp — HL7 v2 over MLLP listener: a push source that stores each message durably before it answers.

Config (`type: mllp`, pipeline `trigger: {event: true}`):

    connectors:
      ehr-feed:
        type: mllp
        host: 127.0.0.1            # default; 0.0.0.0 to listen on every interface
        port: 2575                 # 0 = any free port (tests)
        tls_cert: certs/mllp.pem   # optional: TLS with this certificate chain …
        tls_key: certs/mllp.key    # … and key; tls_client_ca additionally requires client certificates
        encoding: utf-8            # when MSH-18 is empty (iso-2022-jp for SS-MIX2 style feeds)
        idle_timeout: 60           # seconds without a byte before a connection is closed
        message_deadline: 30       # seconds from a message's first byte to its end, however it trickles
        max_connections: 64        # in all; when reached, a stale connection gives way (idle ones first)
        max_connections_per_peer: 8
        shed_after: 2              # seconds idle before a connection may give way to a new one
        max_message_bytes: 1048576
        strict_validation: false   # hl7apy strict structure validation (milliseconds per message)
        check_on_receive: light    # what is checked before the ACK decides AA/AE: light, full or off

ACK rules (original mode; see ack.py for the ACK's contents):
    AA  stored (a duplicate MSH-10 from the same sender is acknowledged AA again, not stored twice)
    AE  stored, but the engine will quarantine it: unsupported message type, undecodable text, no
        PID / empty PID-3, a PID-3 outside the patient-id rule (ERR-2 PID^1^3, value never echoed),
        truncation evidence (docs/hl7v2.md), failed strict validation (and with `check_on_receive: full` anything the
        full parse refuses). It is kept and can be reprocessed.
    AR  not accepted, not stored: no MSH, invalid encoding characters, empty MSH-9/MSH-10, unknown
        MSH-18 character set, frame over max_message_bytes. Reason in MSA-3 and ERR.
    AR  stored QUARANTINED (kept, reprocessable) but refused: a frame holding more than one message
        (a second MSH): one message per frame, never attributed to the first patient (docs/hl7v2.md).
If storing fails (disk, database), no ACK is sent and the connection is closed: the sender resends.

Messages are keyed `<MSH-3>^<MSH-4>|<MSH-10>` (first components), grouped by sender; the engine's source
ledger de-duplicates on that key. Stores go through a group commit (`_commit.py`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pydantic

from renkei.connectors.base import ConnectorContext, Ingest, Parsed, SourceItem
from renkei.connectors.hl7v2 import (
    ONE_MESSAGE_RULE,
    Header,
    HL7Error,
    MessageError,
    build_ack,
    check_message,
    codec_for,
    data_type_of,
    decode_text,
    document_bytes,
    header_or_empty,
    parse_message,
    read_header,
    second_header_offset,
    split_framed,
    validate_strict,
)
from renkei.errors import ConfigError, InputError
from renkei.mappings.content import verify_files

from ._commit import GroupCommitter
from ._limits import Connection, ConnectionTable
from .framing import FrameDecoder, FramingError, frame

log = logging.getLogger("renkei.mllp")


class MLLPListener:
    """PushSource: listens for MLLP connections; `start(ingest)` / `stop()`; `parse` for the engine."""

    class Settings(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        host: str = "127.0.0.1"
        port: int = pydantic.Field(2575, ge=0, le=65535)
        tls_cert: Path | None = None
        tls_key: Path | None = None
        tls_client_ca: Path | None = None
        encoding: str = "utf-8"
        idle_timeout: float = pydantic.Field(60.0, gt=0)
        # Slow senders: a message must end within message_deadline of its first byte (a sender trickling
        # a byte a second would otherwise reset the idle timer forever); one address may hold at most
        # max_connections_per_peer; at max_connections, a new connection closes one idle for shed_after
        # seconds, else the one whose message in progress began first, else it is refused (_limits.py).
        message_deadline: float = pydantic.Field(30.0, gt=0)
        max_connections: int = pydantic.Field(64, ge=1)
        max_connections_per_peer: int = pydantic.Field(8, ge=1)
        shed_after: float = pydantic.Field(2.0, ge=0)
        max_message_bytes: int = pydantic.Field(1 << 20, ge=1024)
        max_batch: int = pydantic.Field(256, ge=1)
        commit_linger: float = pydantic.Field(0.002, ge=0, le=0.1)  # seconds to wait for a fuller batch
        # before answering, so AE tells the sender what will be quarantined: "light" = decode, message
        # type, MSH/PID structure (~20 us); "full" = the engine's whole parse (~200 us); "off"
        check_on_receive: Literal["light", "full", "off"] = "light"
        strict_validation: bool = False

        @pydantic.model_validator(mode="after")
        def _tls_pair(self) -> MLLPListener.Settings:
            if (self.tls_cert is None) != (self.tls_key is None):
                raise ValueError("give both tls_cert and tls_key, or neither")
            if self.tls_client_ca is not None and self.tls_cert is None:
                raise ValueError("tls_client_ca needs tls_cert and tls_key")
            return self

    def __init__(self, name: str, settings: Settings, context: ConnectorContext | None = None) -> None:
        self.name = name
        self.settings = settings
        self.context = context
        self.port = settings.port  # the bound port once started (settings.port may be 0)
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._committer: GroupCommitter | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._table = ConnectionTable(
            name, settings.max_connections, settings.max_connections_per_peer, settings.shed_after
        )

    # -- Source --------------------------------------------------------------------------------------
    def scan(self) -> Iterator[SourceItem]:
        return iter(())  # messages are pushed, never listed

    def read(self, key: str) -> bytes:
        raise InputError(f"{key}: an MLLP message cannot be read again from its sender; the stored bytes are used")

    def parse(self, key: str, raw: bytes) -> Parsed:
        text, warnings = self._text(key, raw)
        got = parse_message(text, key, warnings=warnings)
        if any(getattr(r, "content", "") for r in got.records):  # ED attachments: checked by content
            msg = split_framed(text, key)[0]
            verify_files(got.records, lambda locator: document_bytes(msg, key, locator), key)
        return Parsed(got.records, got.patient_id, got.data_type, got.warnings, version=got.version)

    def document_content(self, key: str, raw: bytes, locator: str) -> bytes:
        """The file an ED OBX of a stored message carries (pipelines/documents.py resolves it before delivery)."""
        text, _ = self._text(key, raw)
        return document_bytes(split_framed(text, key)[0], key, locator)

    def _text(self, key: str, raw: bytes) -> tuple[str, list[str]]:
        """Decoded text of a message the parser can take; HL7Error/InputError (quarantine, AE) if not."""
        h = read_header(raw)
        text, warnings = decode_text(raw, codec_for(h.get(18), self.settings.encoding), key)
        if not data_type_of(h.message_type):
            raise HL7Error(
                f"{key}: message type {h.message_type} is not supported (no handler)", code="200", location="MSH^1^9"
            )
        if self.settings.strict_validation:
            validate_strict(text)
        return text, warnings

    def close(self) -> None:
        self.stop()

    # -- PushSource ----------------------------------------------------------------------------------
    def start(self, ingest: Ingest) -> None:
        """Bind and serve in a background thread; returns once listening (raises if it cannot bind)."""
        if self._thread is not None:
            raise RuntimeError(f"MLLP listener {self.name} is already started")
        tls = self._tls_context()
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._committer = GroupCommitter(
            ingest, loop, self.settings.max_batch, want=lambda: self.connections, linger=self.settings.commit_linger
        )

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(
                        self._serve, self.settings.host, self.settings.port, ssl=tls, limit=1 << 16, backlog=256
                    )
                )
            except OSError as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._committer.start()
        self._thread = threading.Thread(target=serve, name=f"mllp:{self.name}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._committer.stop()
            self._thread = None
            raise ConfigError(
                f"MLLP listener {self.name}: cannot listen on {self.settings.host}:{self.settings.port}: {failure[0]}"
            ) from failure[0]
        log.info("MLLP listener %s on %s:%d%s", self.name, self.settings.host, self.port, " (TLS)" if tls else "")

    def stop(self) -> None:
        """Stop accepting, drop open connections (unanswered messages get no ACK), finish the stores."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._thread = None

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            loop.stop()

        if loop.is_running():
            asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(10)
        if self._committer is not None:
            self._committer.stop()

    # -- serving -------------------------------------------------------------------------------------
    def _tls_context(self) -> ssl.SSLContext | None:
        s = self.settings
        if s.tls_cert is None or s.tls_key is None:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(s.tls_cert, s.tls_key)
            if s.tls_client_ca is not None:
                ctx.load_verify_locations(s.tls_client_ca)
                ctx.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"MLLP listener {self.name}: cannot load TLS files: {exc}") from exc
        return ctx

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        conn = self._table.admit(host, task, asyncio.get_running_loop().time())
        if conn is None:
            writer.close()
            return
        self._tasks.add(task)
        self.connections += 1
        try:
            await self._conversation(reader, writer, peer, conn)
        except asyncio.CancelledError:
            pass  # stop(), or shed for a new connection: close without answering what is in flight
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            log.info("MLLP %s: connection from %s ended: %s", self.name, peer, type(exc).__name__)
        finally:
            self._table.release(conn)
            self.connections -= 1
            self._tasks.discard(task)
            writer.close()

    async def _conversation(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object, conn: Connection
    ) -> None:
        decoder = FrameDecoder(self.settings.max_message_bytes)
        idle, deadline = self.settings.idle_timeout, self.settings.message_deadline
        loop = asyncio.get_running_loop()
        started: float | None = None  # first byte since the last complete message (junk counts too)
        while True:
            wait = idle if started is None else min(idle, started + deadline - loop.time())
            try:
                async with asyncio.timeout(max(wait, 0.0)):
                    data = await reader.read(1 << 16)
            except TimeoutError:
                if started is not None and loop.time() - started >= deadline - 0.01:
                    log.info(
                        "MLLP %s: closing connection from %s: a message did not end within %.0fs of its first byte",
                        self.name, peer, deadline,
                    )  # fmt: skip
                else:
                    log.info("MLLP %s: closing idle connection from %s after %.0fs", self.name, peer, idle)
                return
            if not data:
                try:
                    decoder.flush()
                except FramingError as exc:
                    log.warning("MLLP %s: connection from %s: %s", self.name, peer, exc)
                return
            if started is None:
                started = loop.time()
                conn.mark, conn.in_message = started, True
            rejects: list[bytes] = []
            try:
                frames = decoder.feed(data)
            except FramingError as exc:
                frames = exc.frames
                for problem in exc.problems:
                    log.warning("MLLP %s: connection from %s: %s", self.name, peer, problem)
                    if problem.head:  # oversize: the sender must learn it will never be accepted
                        error = HL7Error(str(problem), code="207", reject=True)
                        rejects.append(self._encode(header_or_empty(problem.head), "AR", error, "utf-8"))
            if frames or rejects:  # progress: the deadline restarts with the next message's first byte
                started = loop.time() if decoder.in_frame else None
                conn.mark, conn.in_message = loop.time(), started is not None
            pending = [self._accept(raw) for raw in frames]
            conn.storing += len(pending)
            try:
                for reply in rejects:
                    writer.write(reply)
                for item in pending:
                    reply = item if isinstance(item, bytes) else await item
                    writer.write(reply)
                if rejects or pending:
                    async with asyncio.timeout(idle):
                        await writer.drain()
            finally:
                conn.storing -= len(pending)
            if pending and started is None:
                conn.mark = loop.time()  # idle from when its last ACK went out

    def _accept(self, raw: bytes) -> bytes | asyncio.Future[bytes]:
        """An AR at once, or a future ACK that resolves once the message is stored."""
        try:
            h = read_header(raw)
            codec = codec_for(h.get(18), self.settings.encoding)
        except HL7Error as exc:
            return self._encode(header_or_empty(raw), "AR", exc, "utf-8")
        assert self._committer is not None
        stored = self._committer.submit(SourceItem(h.key, h.control_id, h.sender), raw)
        # checked while the writer thread commits (the fsync releases the GIL): the check is then free
        second = second_header_offset(raw)
        if second >= 0:  # stored (the engine quarantines it) but refused: AR naming the rule
            problem: HL7Error | None = HL7Error(
                f"{h.key}: a second MSH (message header) at byte {second}: {ONE_MESSAGE_RULE}",
                code="100",
                location="MSH",
                reject=True,
            )
        else:
            problem = self._check(h, raw) if self.settings.check_on_receive != "off" else None
        return asyncio.ensure_future(self._ack_when_stored(stored, h, problem, codec))

    async def _ack_when_stored(
        self, stored: asyncio.Future[tuple[int, bool]], h: Header, problem: HL7Error | None, codec: str
    ) -> bytes:
        _mid, duplicate = await stored  # raises if storing failed: the connection closes without an ACK
        text = "duplicate: already received, not processed again" if duplicate else ""
        code = "AA" if problem is None else "AR" if problem.reject else "AE"
        return self._encode(h, code, problem, codec, text)

    def _check(self, h: Header, raw: bytes) -> HL7Error | None:
        """What the engine's parse will say, so the sender hears AE now instead of silence later."""
        try:
            if self.settings.check_on_receive == "full":
                self.parse(h.key, raw)
            else:
                check_message(self._text(h.key, raw)[0], h.key)
        except HL7Error as exc:
            return exc
        except MessageError as exc:  # the ERR names the field (PID-3 → PID^1^3), never its value
            seg, _, n = exc.defect.field.partition("-")
            location = f"{seg}^1^{n}" if n.isdigit() else exc.defect.segment
            code = "102" if exc.kind == "bad_patient_id" else "207"
            return HL7Error(str(exc), code=code, location=location)
        except InputError as exc:
            return HL7Error(str(exc), code="207")
        except Exception as exc:  # a parser bug: the engine will quarantine the message too
            log.error("MLLP %s: parser failed on %s: %s", self.name, h.key, type(exc).__name__)
            return HL7Error(f"{h.key}: parser failed unexpectedly ({type(exc).__name__})", code="207")
        return None

    @staticmethod
    def _encode(h: Header, code: str, error: HL7Error | None, codec: str, text: str = "") -> bytes:
        ack = build_ack(h, code, error, text)
        try:
            return frame(ack.encode(codec))
        except (UnicodeEncodeError, LookupError):
            return frame(ack.encode("utf-8"))

"""mllp-sender — a Destination that sends HL7 v2 messages over MLLP and waits for each ACK.

Config (`type: mllp-sender`):

    connectors:
      lab-system:
        type: mllp-sender
        host: 10.0.0.5
        port: 2575
        tls: false                 # true: TLS, verified against tls_ca (else the system store)
        tls_ca: certs/lab-ca.pem
        tls_cert: certs/me.pem     # optional client certificate …
        tls_key: certs/me.key      # … and its key
        encoding: ""               # "" = as MSH-18 says (else utf-8)
        connect_timeout: 10
        ack_timeout: 30
        attempts: 3                # tries per deliver() before the engine's own retry policy takes over
        backoff_seconds: 0.5
        msh: {sending_application: RENKEI, receiving_application: EHR, charset: "~ISO IR87"}   # see below

The payload's HL7 text is `payload["hl7"]` (else `payload["text"]`), segments separated by CR or LF.
A payload of canonical records (`{"records": [...]}`, the way back: docs/way-back.md) is encoded by the
HL7 v2 codec: observations as ORU^R01, a note as MDM^T02, with the `msh` settings (MSH-3..6 and MSH-18).
An empty MSH-10 is filled from the idempotency key, so a resend carries the same control id and a
receiver that de-duplicates by MSH-10 (renkei's listener does) never processes it twice.
ACK mapping: AA/CA -> the receipt (`<host>:<port>/<MSH-10>`); AE/AR/CE/CR -> PermanentDeliveryError with
MSA-3 (or ERR); timeouts and connection errors -> retried here with backoff (tenacity), then
RetryableDeliveryError. One connection is kept open between deliveries.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import threading
from pathlib import Path
from typing import Any, Literal

import pydantic
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from renkei.connectors.base import ConnectorContext
from renkei.connectors.hl7v2 import Ack, HL7Error, MessageHeader, codec_for, encode_records, read_header
from renkei.errors import ConfigError, InputError, PermanentDeliveryError, RetryableDeliveryError
from renkei.records import Record

from .client import MLLPClient

log = logging.getLogger("renkei.mllp")


class MshSettings(pydantic.BaseModel):
    """MSH fields of the messages this sender encodes from records (MSH-3..6, MSH-18)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    sending_application: str = "RENKEI"
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    charset: Literal["UNICODE UTF-8", "~ISO IR87", "ISO IR87"] = "UNICODE UTF-8"


class MLLPSender:
    class Settings(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        host: str
        port: int = pydantic.Field(ge=1, le=65535)
        tls: bool = False
        tls_ca: Path | None = None
        tls_cert: Path | None = None
        tls_key: Path | None = None
        encoding: str = ""
        connect_timeout: float = pydantic.Field(10.0, gt=0)
        ack_timeout: float = pydantic.Field(30.0, gt=0)
        attempts: int = pydantic.Field(3, ge=1)
        backoff_seconds: float = pydantic.Field(0.5, ge=0)
        max_message_bytes: int = pydantic.Field(1 << 20, ge=1024)
        msh: MshSettings = pydantic.Field(default_factory=lambda: MshSettings())

    def __init__(self, name: str, settings: Settings, context: ConnectorContext | None = None) -> None:
        self.name = name
        self.settings = settings
        self.context = context
        s = settings
        self._client = MLLPClient(
            s.host, s.port, tls=self._tls_context(), connect_timeout=s.connect_timeout, ack_timeout=s.ack_timeout,
            max_message_bytes=s.max_message_bytes,
        )  # fmt: skip
        self._lock = threading.Lock()
        self._receipts: dict[str, str] = {}

    def _tls_context(self) -> ssl.SSLContext | None:
        s = self.settings
        if not s.tls:
            return None
        try:
            ctx = ssl.create_default_context(cafile=s.tls_ca)
            if s.tls_cert is not None:
                ctx.load_cert_chain(s.tls_cert, s.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"mllp-sender {self.name}: cannot load TLS files: {exc}") from exc
        return ctx

    def message_bytes(self, payload: dict[str, Any], idempotency_key: str) -> tuple[bytes, str]:
        """The wire bytes of the payload's message and its MSH-10; PermanentDeliveryError if it is not HL7."""
        text = payload.get("hl7") or payload.get("text") or ""
        if not text and isinstance(payload.get("records"), list):
            text = self._encoded(payload["records"])
        if not isinstance(text, str):
            raise PermanentDeliveryError(f"{self.name}: payload has no HL7 text (hl7/text)")
        text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r") + "\r"
        try:
            h = read_header(text.encode("utf-8"))
        except HL7Error as exc:
            if "MSH-10" not in str(exc):
                raise PermanentDeliveryError(f"{self.name}: payload is not an HL7 v2 message: {exc}") from exc
            text = _fill_control_id(text, hashlib.sha256(idempotency_key.encode()).hexdigest()[:20])
            h = read_header(text.encode("utf-8"))
        try:
            codec = self.settings.encoding or codec_for(h.get(18), "utf-8")
            return text.encode(codec), h.control_id
        except (HL7Error, LookupError, UnicodeEncodeError) as exc:
            raise PermanentDeliveryError(f"{self.name}: cannot encode message {h.control_id}: {exc}") from exc

    def _encoded(self, records: list[dict[str, Any]]) -> str:
        try:
            parsed = [Record.from_dict(r) for r in records]
            return encode_records(parsed, MessageHeader(**self.settings.msh.model_dump()))
        except InputError as exc:
            raise PermanentDeliveryError(f"{self.name}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            reason = f"payload is not canonical records ({type(exc).__name__})"
            raise PermanentDeliveryError(f"{self.name}: {reason}") from exc

    def deliver(self, payload: dict[str, Any], idempotency_key: str) -> str:
        if idempotency_key in self._receipts:
            return self._receipts[idempotency_key]
        raw, control_id = self.message_bytes(payload, idempotency_key)
        ack = self._send_with_retries(raw, control_id)
        if not ack.accepted:
            raise PermanentDeliveryError(
                f"{self.name}: message {control_id} refused with {ack.code}: {ack.reason or '(no reason given)'}"
            )
        receipt = f"{self.settings.host}:{self.settings.port}/{control_id}"
        self._receipts[idempotency_key] = receipt
        return receipt

    def _send_with_retries(self, raw: bytes, control_id: str) -> Ack:
        s = self.settings
        retrying = Retrying(
            stop=stop_after_attempt(s.attempts),
            wait=wait_exponential(multiplier=s.backoff_seconds, max=max(s.backoff_seconds * 8, 0.001)),
            retry=retry_if_exception_type(OSError),
            reraise=True,
        )
        try:
            with self._lock:
                for attempt in retrying:
                    with attempt:
                        return self._client.send(raw)
        except OSError as exc:
            log.warning("%s: message %s not acknowledged: %s", self.name, control_id, type(exc).__name__)
            raise RetryableDeliveryError(
                f"{self.name}: no ACK for message {control_id} after {s.attempts} attempt(s): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            self._client.close()

    def __enter__(self) -> MLLPSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fill_control_id(text: str, control_id: str) -> str:
    msh, sep, rest = text.partition("\r")
    fs = msh[3]
    fields = msh.split(fs)  # fields[9] is MSH-10
    fields += [""] * (10 - len(fields))
    fields[9] = control_id
    return fs.join(fields) + sep + rest

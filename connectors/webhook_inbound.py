"""webhook-inbound — the way back from a care SNS that calls us: replies POSTed over HTTP, signed with HMAC.

Config:
    connectors:
      sns-replies:
        type: webhook-inbound
        host: 127.0.0.1
        port: 8788
        secret_env: RENKEI_INBOUND_SECRET     # or secret_file: /run/secrets/inbound (never the secret itself)
        max_skew_seconds: 300
        origin: sns                           # names the sender in record keys (sns/<id>)
    pipelines:
      - {name: sns-replies, source: sns-replies, destinations: [ehr], trigger: {event: true}}

Request: `POST /` (any path) with a JSON body
    {"id": "<the SNS's post id>", "patient_id": "<EHR id>", "author": "<staff id>", "text": "…",
     "sent_at": "2024-04-01T09:30:00+09:00"}
and the headers the outbound webhook (webhook.py) sends, the same scheme both ways:
    X-Renkei-Timestamp: <unix seconds>
    X-Renkei-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
Answers: 401 for a missing or wrong signature or a timestamp more than max_skew_seconds away (a replay of
an old request), 400 for a body that is not such a reply (the reason names the field), 413 for a body over
max_body_bytes, 422 for a vitals report that cannot be read (the reason, to show the nurse), 503 if it
could not be stored, and 200 `{"message_id": …, "duplicate": …}` only after the reply is durably stored.
A resent id (a retry, or a replay inside the window) is acknowledged as a duplicate and processed once.
Nothing is stored before the signature is checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from renkei.connectors.base import ConnectorContext, Ingest, Parsed
from renkei.connectors.secrets import env_secret, file_secret
from renkei.connectors.timeline_reply import InboundReply, parse_reply
from renkei.errors import InputError
from renkei.mappings.vital_text import VitalTextError
from renkei.records import SourceItem

log = logging.getLogger(__name__)


class WebhookInboundSettings(BaseModel):
    model_config = {"extra": "forbid"}
    host: str = "127.0.0.1"
    port: int = Field(8788, ge=0, le=65535)
    secret_env: str | None = None
    secret_file: Path | None = None
    max_skew_seconds: int = Field(300, ge=1, le=3600)
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    origin: str = Field("webhook", pattern=r"^[A-Za-z0-9_.-]+$")
    signature_header: str = "X-Renkei-Signature"
    timestamp_header: str = "X-Renkei-Timestamp"

    @model_validator(mode="after")
    def _one_secret(self) -> WebhookInboundSettings:
        if (self.secret_env is None) == (self.secret_file is None):
            raise ValueError("give exactly one of secret_env or secret_file (never the secret itself)")
        return self


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookInbound:
    Settings = WebhookInboundSettings

    def __init__(self, name: str, settings: WebhookInboundSettings, context: ConnectorContext) -> None:
        self.name = name
        self.settings = settings
        self.context = context
        if settings.secret_env is not None:
            secret = env_secret(settings.secret_env, setting=f"webhook-inbound {name} secret_env")
        else:
            assert settings.secret_file is not None
            secret = file_secret(settings.secret_file, setting=f"webhook-inbound {name} secret_file")
        self._secret = secret.encode()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server is not None else self.settings.port

    # -- checks, apart from HTTP so they are testable alone -----------------------------------------
    def verify(self, headers: dict[str, str], body: bytes, now: float | None = None) -> str:
        """"" when the request is authentic and fresh, else why not (for the 401 answer and the log)."""
        stamp = headers.get(self.settings.timestamp_header.lower(), "")
        given = headers.get(self.settings.signature_header.lower(), "")
        if not stamp or not given:
            return "signature or timestamp header missing"
        if not hmac.compare_digest(given, signature(self._secret, stamp, body)):
            return "signature does not match"
        try:
            skew = abs((time.time() if now is None else now) - int(stamp))
        except ValueError:
            return "timestamp is not unix seconds"
        if skew > self.settings.max_skew_seconds:
            limit = self.settings.max_skew_seconds
            return f"timestamp is {int(skew)} s away (more than {limit} s): refused as a replay"
        return ""

    def reply_of(self, body: bytes) -> InboundReply:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"body is not UTF-8 JSON ({type(exc).__name__})") from exc
        if not isinstance(data, dict):
            raise InputError("body is not a JSON object")
        for field in ("id", "patient_id", "author", "text", "sent_at"):
            if not isinstance(data.get(field), str) or not data[field]:
                raise InputError(f"field {field} is missing or not a string")
        reply = InboundReply(self.settings.origin, data["id"], data["patient_id"], data["author"], data["text"],
                             data["sent_at"])  # fmt: skip
        reply.check(f"{self.name}: request")
        return reply

    def handle(self, ingest: Ingest, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for one request."""
        problem = self.verify(headers, body)
        if problem:
            log.warning("webhook-inbound %s: request refused (401): %s", self.name, problem)
            return 401, {"error": problem}
        try:
            reply = self.reply_of(body)
        except InputError as exc:
            return 400, {"error": str(exc)}
        try:
            parse_reply(reply)  # a vitals report that cannot be read is refused now, so the SNS can tell the nurse
        except VitalTextError as exc:
            return 422, {"error": str(exc)}
        key = f"{reply.origin}/{reply.event_id}"
        try:
            ((message_id, duplicate),) = ingest([(SourceItem(key=key, fingerprint="1"), reply.to_raw())])
        except Exception as exc:  # not stored: the sender must retry (no 2xx for what is not durable)
            log.error("webhook-inbound %s: reply not stored (%s)", self.name, type(exc).__name__)
            return 503, {"error": "not stored; retry later"}
        self.context.audit("timeline.reply.read", reply.patient_id, f"{self.name}: {key}")
        return 200, {"message_id": message_id, "duplicate": duplicate}

    # -- PushSource -----------------------------------------------------------------------------------
    def start(self, ingest: Ingest) -> None:
        source = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "renkei-webhook-inbound"

            def do_POST(self) -> None:
                try:
                    length = int(self.headers.get("Content-Length") or "0")
                except ValueError:
                    length = -1
                if length < 0 or length > source.settings.max_body_bytes:
                    self._answer(413, {"error": f"body over {source.settings.max_body_bytes} bytes"})
                    return
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                self._answer(*source.handle(ingest, headers, body))

            def _answer(self, status: int, answer: dict[str, Any]) -> None:
                data = json.dumps(answer, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((self.settings.host, self.settings.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"webhook-inbound:{self.name}",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self.stop()

    # -- Source ---------------------------------------------------------------------------------------
    def scan(self) -> Iterator[SourceItem]:
        return iter(())  # a push source: everything arrives through start()

    def read(self, key: str) -> bytes:
        raise InputError(f"{key}: inbound webhook replies are kept in the store only")

    def parse(self, key: str, raw: bytes) -> Parsed:
        return parse_reply(InboundReply.from_raw(raw, key))

"""webhook — a generic REST destination: each payload is sent as a signed JSON request.

Config:
    connectors:
      partner-api:
        type: webhook
        url: https://partner.example.jp/renkei/inbox
        method: POST
        secret_env: RENKEI_WEBHOOK_SECRET       # or secret_file: /run/secrets/webhook
        headers: {X-Tenant: home-care-01}
        header_secrets_env: {Authorization: PARTNER_AUTH}   # header values that are secrets
        mapping: timeline_to_partner            # optional level-4 mapping of the payload

Each request carries
    X-Renkei-Timestamp: <unix seconds>
    X-Renkei-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
    Idempotency-Key: <the engine's key>
so the receiver can check origin and freshness and drop repeats. Without a mapping the body is the payload
itself (for a timeline, `TimelinePost.to_dict()`) as UTF-8 JSON.

Errors: 5xx, 408, 429, timeouts and connection errors are retried a few times in the call (exponential
backoff with jitter) and then raised as RetryableDeliveryError for the engine's durable retry. 401 (the
receiver refuses our credentials: secret or auth header) is the destination's failure, not the payload's:
a WebhookAuthError (retryable, not retried in the call), so every delivery backs off until it is fixed and
none goes DEAD for it. Any other 4xx is a PermanentDeliveryError at once (an unchanged request cannot
succeed). A local ledger in the data
folder returns the first receipt for a key already delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, Field, field_validator, model_validator
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from renkei.connectors.base import ConnectorContext
from renkei.connectors.http_errors import status_error, transport_error
from renkei.connectors.secrets import env_secret, file_secret
from renkei.errors import ConfigError, PermanentDeliveryError, RetryableDeliveryError

log = logging.getLogger(__name__)



class WebhookAuthError(RetryableDeliveryError):
    """The receiver refused our signature or auth header (401): wait for the operator, never DEAD for it."""


def _retry_in_call(exc: BaseException) -> bool:
    return isinstance(exc, RetryableDeliveryError) and not isinstance(exc, WebhookAuthError)


class WebhookSettings(BaseModel):
    model_config = {"extra": "forbid"}

    url: str = Field(..., description="http(s) URL that receives each payload")
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict, description="extra headers (no secrets here)")
    header_secrets_env: dict[str, str] = Field(
        default_factory=dict, description="header name -> environment variable holding its (secret) value"
    )
    secret_env: str | None = Field(None, description="environment variable holding the HMAC secret")
    secret_file: Path | None = Field(None, description="file holding the HMAC secret")
    signature_header: str = "X-Renkei-Signature"
    timestamp_header: str = "X-Renkei-Timestamp"
    idempotency_header: str = "Idempotency-Key"
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    attempts: int = Field(3, ge=1, le=10, description="tries within one deliver() call")
    backoff_initial: float = Field(0.2, ge=0, description="seconds; doubles each try, with jitter")
    backoff_max: float = Field(2.0, ge=0)
    mapping: str | None = Field(None, description="level-4 mapping applied to the payload before sending")
    mapping_overlay: Path | None = Field(None, description="site folder of mapping specs that override shipped ones")

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an http(s) URL with a host")
        if parts.username or parts.password:
            raise ValueError("put credentials in header_secrets_env, not in the url")
        return v

    @model_validator(mode="after")
    def _one_secret(self) -> WebhookSettings:
        if (self.secret_env is None) == (self.secret_file is None):
            raise ValueError("give exactly one of secret_env or secret_file (never the secret itself)")
        return self


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value: sha256=<hex HMAC-SHA256 over timestamp + "." + body>."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _load_mapping(name: str, overlay: Path | None) -> Any:
    """The compiled level-4 mapping `name` (shipped spec, or from the overlay folder)."""
    from renkei.mappings import MappingError, load_mapping

    try:
        return load_mapping(name, overlay)
    except MappingError as exc:
        raise ConfigError(f"webhook mapping {name!r}: {exc}") from exc


class WebhookDestination:
    """Delivers each payload as one signed HTTP request."""

    Settings = WebhookSettings

    def __init__(self, name: str, settings: WebhookSettings, context: ConnectorContext) -> None:
        self.name = name
        self.settings = settings
        if settings.secret_env is not None:
            self._secret = env_secret(settings.secret_env, setting=f"webhook {name} secret_env").encode()
        else:
            assert settings.secret_file is not None
            self._secret = file_secret(settings.secret_file, setting=f"webhook {name} secret_file").encode()
        self._session = requests.Session()
        self._session.headers.update(settings.headers)
        for header, var in settings.header_secrets_env.items():
            self._session.headers[header] = env_secret(var, setting=f"webhook {name} header_secrets_env.{header}")
        self._session.headers["User-Agent"] = "renkei-webhook"
        self._mapping = _load_mapping(settings.mapping, settings.mapping_overlay) if settings.mapping else None
        parts = urlsplit(settings.url)
        self._where = f"{parts.scheme}://{parts.netloc}{parts.path}"  # for messages: no query string
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        path = Path(context.data_dir) / f"webhook-{safe}.sqlite"
        from renkei.connectors.webhook_ledger import open_ledger  # SQLAlchemy only once a webhook runs

        self._db = open_ledger(path)
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the secret nor secret headers
        return f"WebhookDestination({self.name!r}, {self._where!r})"

    def close(self) -> None:
        self._session.close()
        self._db.close()

    def __enter__(self) -> WebhookDestination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def deliver(self, payload: dict[str, Any], idempotency_key: str) -> str:
        with self._lock:
            row = self._db.execute("SELECT receipt FROM deliveries WHERE idem_key = ?", (idempotency_key,)).fetchone()
        if row is not None:
            return str(row[0])
        body_obj = self._map(payload, idempotency_key) if self._mapping is not None else payload
        try:
            body = json.dumps(body_obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise PermanentDeliveryError(f"webhook {self.name}: payload for key {idempotency_key} is not JSON") from exc
        s = self.settings
        retrying = Retrying(
            stop=stop_after_attempt(s.attempts),
            wait=wait_random_exponential(multiplier=s.backoff_initial, max=s.backoff_max),
            retry=retry_if_exception(_retry_in_call),
            reraise=True,
        )
        resp = retrying(self._send_once, body, idempotency_key)
        receipt = _receipt(resp, idempotency_key)
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO deliveries (idem_key, receipt) VALUES (?, ?)", (idempotency_key, receipt)
            )
        return receipt

    def _map(self, payload: dict[str, Any], idempotency_key: str) -> Any:
        from renkei.mappings import MappingError

        try:
            return self._mapping.apply(payload)
        except MappingError as exc:
            # The same payload will never map: retrying cannot help. The text names fields, not values.
            raise PermanentDeliveryError(
                f"webhook {self.name}: mapping {self.settings.mapping} failed for key {idempotency_key}: {exc}"
            ) from exc

    def _send_once(self, body: bytes, idempotency_key: str) -> requests.Response:
        s = self.settings
        timestamp = str(int(time.time()))  # fresh per try, so a receiver's freshness window holds
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            s.timestamp_header: timestamp,
            s.signature_header: sign(self._secret, timestamp, body),
            s.idempotency_header: idempotency_key,
        }
        what = f"webhook {self.name} {s.method} {self._where}"
        try:
            resp = self._session.request(
                s.method, s.url, data=body, headers=headers, timeout=(s.connect_timeout, s.read_timeout)
            )
        except requests.RequestException as exc:
            raise transport_error(exc, what) from exc
        try:
            resp.raise_for_status()
        except requests.HTTPError as exc:  # kept as the cause: the status line is in it, never the body
            if resp.status_code == 401:  # the destination's failure, not this post's: back off, never DEAD
                raise WebhookAuthError(f"{what}: our credentials were refused (401)") from exc
            refused = status_error(resp.status_code, f"{what}: refused with {resp.status_code}", resp.headers)
            if isinstance(refused, RetryableDeliveryError):
                log.info("%s: %s, will retry", what, resp.status_code)
            raise refused from exc
        return resp


def _receipt(resp: requests.Response, idempotency_key: str) -> str:
    """The receiver's id for the delivery: JSON `id`, else the Location header, else the key itself."""
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("id"), str | int) and not isinstance(data.get("id"), bool):
        return str(data["id"])
    return resp.headers.get("Location") or idempotency_key

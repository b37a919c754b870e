"""The Matrix client-server API over one `requests.Session`, with errors typed for the engine.

Every call has a timeout. Failures map onto renkei's error tree at this boundary by the shared HTTP policy
(connectors/http_errors.py): 408/425/429, 5xx, timeouts and connection errors are RetryableDeliveryError; so
is 401 (MatrixAuthError: the access token is refused, which is the destination's failure, not the post's, so
every delivery backs off until the token is fixed and none goes DEAD for it); any other 4xx is a
MatrixRequestError (a PermanentDeliveryError) carrying the HTTP status and Matrix errcode. Requests that
are safe to repeat (GET, PUT with a transaction id) get a few quick in-call retries; a 429 is retried in
the call only if the server asks for a short wait (`retry_after_ms`), otherwise the wait is handed on as
`error.retry_after` for the engine's durable retry.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import quote

import requests

from renkei.connectors.http_errors import HttpPermanentError, status_error, transport_error
from renkei.errors import PermanentDeliveryError, RetryableDeliveryError

log = logging.getLogger(__name__)


class MatrixRequestError(HttpPermanentError):
    """The homeserver refused a request (4xx other than 408/425/429); retrying cannot help."""

    def __init__(self, message: str, status: int, errcode: str) -> None:
        super().__init__(message, status)
        self.errcode = errcode


class MatrixAuthError(RetryableDeliveryError):
    """The homeserver refused the access token (401): retried with backoff, never in the call."""

    def __init__(self, message: str, status: int, errcode: str) -> None:
        super().__init__(message)
        self.status = status
        self.errcode = errcode


def q(part: str) -> str:
    """Quote one path segment (room ids contain '!' and ':', user ids '@')."""
    return quote(part, safe="")


class MatrixHTTP:
    def __init__(
        self,
        homeserver: str,
        access_token: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        attempts: int = 3,
        max_inline_wait: float = 2.0,
    ) -> None:
        self.base = homeserver.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {access_token}"
        self.session.headers["User-Agent"] = "renkei-matrix"
        self.timeout = (connect_timeout, read_timeout)
        self.attempts = max(1, attempts)
        self.max_inline_wait = max_inline_wait

    def __repr__(self) -> str:  # never the token
        return f"MatrixHTTP({self.base!r})"

    def close(self) -> None:
        self.session.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        access_token: str | None = None,
        repeatable: bool = True,
        what: str = "",
    ) -> dict[str, Any]:
        """One API call; `what` names it in errors (never put patient data there).

        repeatable=False for requests that are not idempotent (createRoom, media upload): those are never
        retried in the call, since a timeout may hide a success.
        """
        what = what or f"{method} {path.split('?')[0]}"
        hdrs = dict(headers or {})
        if access_token is not None:
            hdrs["Authorization"] = f"Bearer {access_token}"
        attempts = self.attempts if repeatable else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._once(method, path, json=json, params=params, data=data, headers=hdrs, what=what)
            except RetryableDeliveryError as exc:
                wait = getattr(exc, "retry_after", None)
                if attempt == attempts or isinstance(exc, MatrixAuthError) or (wait or 0) > self.max_inline_wait:
                    raise
                time.sleep(wait if wait is not None else 0.1 * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def _once(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        params: dict[str, Any] | None,
        data: bytes | None,
        headers: dict[str, str],
        what: str,
    ) -> dict[str, Any]:
        try:
            resp = self.session.request(
                method, self.base + path, json=json, params=params, data=data, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise transport_error(exc, f"Matrix {what} ({self.base})") from exc
        try:
            resp.raise_for_status()
        except requests.HTTPError as exc:
            raise _map_status(resp, what) from exc
        log.debug("matrix %s -> %s", what, resp.status_code)
        try:
            body = resp.json()
        except ValueError as exc:
            raise RetryableDeliveryError(f"Matrix {what}: {resp.status_code} with a body that is not JSON") from exc
        if not isinstance(body, dict):
            raise PermanentDeliveryError(f"Matrix {what}: expected a JSON object, got {type(body).__name__}")
        return body


def _map_status(resp: requests.Response, what: str) -> Exception:
    """The shared HTTP policy (connectors/http_errors.py), with Matrix's errcode and retry_after_ms."""
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    errcode = str(body.get("errcode", ""))
    # The server's error text names rooms and users, never patient data; keep it short all the same.
    detail = str(body.get("error", ""))[:200]
    status = resp.status_code
    retry_ms = body.get("retry_after_ms")
    wait = retry_ms / 1000 if isinstance(retry_ms, int | float) and not isinstance(retry_ms, bool) else None
    label = "rate limited" if status == 429 else ("server error" if status >= 500 else "HTTP")
    message = f"Matrix {what}: {label} {status} {errcode}".rstrip()
    refused = status_error(status, message, resp.headers, retry_after=wait)
    if isinstance(refused, RetryableDeliveryError):
        return refused
    if status == 401:
        return MatrixAuthError(f"Matrix {what}: access token refused (401 {errcode})", status, errcode)
    return MatrixRequestError(f"Matrix {what}: {status} {errcode} {detail}".rstrip(), status, errcode)

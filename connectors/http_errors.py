"""The one HTTP error policy of renkei's HTTP destinations (webhook, Matrix, FHIR): what to retry.

    try:
        resp = session.request(...)
    except requests.RequestException as exc:
        raise transport_error(exc, what) from exc
    if resp.status_code >= 300:
        raise status_error(resp.status_code, f"{what}: HTTP {resp.status_code}", resp.headers)

Retryable (the same request may succeed later; RetryableDeliveryError, the engine backs off):
    timeouts and connection failures, 408 Request Timeout, 425 Too Early, 429 Too Many Requests, every 5xx.
Permanent (an unchanged request cannot succeed; PermanentDeliveryError, DEAD at once):
    every other 4xx, and request errors that are ours (invalid URL, too many redirects …).
A server's `Retry-After` (seconds or an HTTP-date, RFC 9110 §10.2.3) is kept on the error as `retry_after`
(seconds), so a caller can wait that long instead of guessing.

Messages are the caller's `what` (method, path without query) and the status: never a body, never a value.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

import requests

from renkei.errors import PermanentDeliveryError, RetryableDeliveryError

RETRYABLE_4XX = frozenset({408, 425, 429})


class HttpRetryableError(RetryableDeliveryError):
    """Try again later; `retry_after` is the server's wish in seconds (None: use the back-off)."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class HttpPermanentError(PermanentDeliveryError):
    """The server refused the request for good (a 4xx other than 408/425/429)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def is_retryable_status(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_4XX


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), None when absent or unreadable."""
    value = (headers or {}).get("Retry-After", "")
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def status_error(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    retry_after: float | None = None,
) -> HttpRetryableError | HttpPermanentError:
    """The typed error for a non-2xx status; `retry_after` overrides the header (e.g. Matrix's retry_after_ms)."""
    if is_retryable_status(status):
        wait = retry_after if retry_after is not None else retry_after_seconds(headers)
        return HttpRetryableError(message, status, wait)
    return HttpPermanentError(message, status)


def transport_error(exc: requests.RequestException, what: str) -> HttpRetryableError | HttpPermanentError:
    """The typed error for a request that got no response. Names the failure's kind, never its text."""
    if isinstance(exc, requests.Timeout):
        return HttpRetryableError(f"{what}: timed out")
    if isinstance(exc, requests.ConnectionError):
        return HttpRetryableError(f"{what}: cannot connect ({type(exc).__name__})")
    return HttpPermanentError(f"{what}: request failed ({type(exc).__name__})")

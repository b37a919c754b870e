"""The shared HTTP error policy: one test per status class, transport failures and Retry-After."""

from __future__ import annotations

import email.utils

import pytest
import requests

from renkei.connectors.http_errors import (
    HttpPermanentError,
    HttpRetryableError,
    is_retryable_status,
    retry_after_seconds,
    status_error,
    transport_error,
)
from renkei.errors import PermanentDeliveryError, RetryableDeliveryError


@pytest.mark.parametrize("status", [408, 425, 429])
def test_retryable_4xx(status: int) -> None:
    err = status_error(status, f"POST /x: HTTP {status}")
    assert isinstance(err, RetryableDeliveryError) and isinstance(err, HttpRetryableError)
    assert err.status == status and err.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
def test_5xx_is_retryable(status: int) -> None:
    assert isinstance(status_error(status, "x"), RetryableDeliveryError)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 412, 413, 422])
def test_other_4xx_is_permanent(status: int) -> None:
    err = status_error(status, f"HTTP {status}")
    assert isinstance(err, PermanentDeliveryError) and isinstance(err, HttpPermanentError)
    assert not isinstance(err, RetryableDeliveryError)
    assert err.status == status and str(err) == f"HTTP {status}"


def test_status_classes() -> None:
    assert [s for s in (200, 302, 400, 407, 408, 418, 425, 428, 429, 430, 499, 500) if is_retryable_status(s)] == [
        408,
        425,
        429,
        500,
    ]


def test_retry_after_seconds_and_date() -> None:
    assert status_error(429, "x", {"Retry-After": "120"}).retry_after == 120.0
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_seconds({"Retry-After": date}, now=now) == pytest.approx(30.0)
    assert retry_after_seconds({"Retry-After": email.utils.formatdate(now - 30, usegmt=True)}, now=now) == 0.0
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None
    # An explicit wait (Matrix's retry_after_ms) wins over the header; a permanent error carries none.
    assert status_error(503, "x", {"Retry-After": "120"}, retry_after=0.5).retry_after == 0.5
    assert not hasattr(status_error(400, "x", {"Retry-After": "120"}), "retry_after")


def test_transport_failures() -> None:
    timed_out = transport_error(requests.ReadTimeout("read timed out: secret-host"), "POST /hook")
    assert isinstance(timed_out, RetryableDeliveryError) and str(timed_out) == "POST /hook: timed out"
    refused = transport_error(requests.ConnectionError("refused"), "POST /hook")
    assert isinstance(refused, RetryableDeliveryError) and "cannot connect" in str(refused)
    ours = transport_error(requests.exceptions.InvalidURL("bad"), "POST /hook")
    assert isinstance(ours, PermanentDeliveryError) and "InvalidURL" in str(ours) and "bad" not in str(ours)

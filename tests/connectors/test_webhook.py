"""WebhookDestination against a real loopback HTTP server that checks signatures, plus unit tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from renkei.connectors.base import ConnectorContext, TimelinePost
from renkei.connectors.registry import connector_class
from renkei.connectors.webhook import WebhookAuthError, WebhookDestination, sign
from renkei.errors import ConfigError, PermanentDeliveryError, RetryableDeliveryError

SECRET = "s3cret-for-tests"
FRESHNESS = 300  # seconds a receiver accepts a timestamp


class Receiver(ThreadingHTTPServer):
    """Verifies X-Renkei-Signature / X-Renkei-Timestamp like a real receiver; answers from a script."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[dict[str, Any]] = []  # every request, verified or not
        self.accepted: list[dict[str, Any]] = []
        self.script: list[int | str] = []  # next answers: a status, or "sleep" to time out the client
        self.by_key: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/inbox?tenant=t1"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        record = {"headers": dict(self.headers), "body": body, "path": self.path}
        self.server.seen.append(record)
        ts = self.headers.get("X-Renkei-Timestamp", "")
        expected = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not ts.isdigit() or abs(time.time() - int(ts)) > FRESHNESS:
            return self._answer(401, {"error": "stale or missing timestamp"})
        if not hmac.compare_digest(expected, self.headers.get("X-Renkei-Signature", "")):
            return self._answer(401, {"error": "bad signature"})
        action = self.server.script.pop(0) if self.server.script else 200
        if action == "sleep":
            time.sleep(0.6)
            # The client has given up by now; answering would only hit a closed socket.
            self.close_connection = True
            return None
        if action != 200:
            return self._answer(int(action), {"error": "scripted"})
        key = self.headers["Idempotency-Key"]
        if key not in self.server.by_key:
            self.server.by_key[key] = f"msg-{len(self.server.by_key) + 1}"
            self.server.accepted.append(record)
        self._answer(200, {"id": self.server.by_key[key]})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _make(url: str, tmp_path: Path, monkeypatch, secret: str = SECRET, **over: Any) -> WebhookDestination:
    monkeypatch.setenv("RENKEI_TEST_WEBHOOK_SECRET", secret)
    cls = connector_class("webhook")
    fields = {"url": url, "secret_env": "RENKEI_TEST_WEBHOOK_SECRET", "backoff_initial": 0.01, "backoff_max": 0.05}
    return cls("partner", cls.Settings(**{**fields, **over}), ConnectorContext(data_dir=tmp_path))


PAYLOAD = TimelinePost(patient_id="P0001", text="体温 36.8 ℃", tags=["バイタル"]).to_dict()


def test_good_delivery_is_signed_and_sent_once(receiver, tmp_path, monkeypatch) -> None:
    with _make(receiver.url, tmp_path, monkeypatch, headers={"X-Tenant": "home-care-01"}) as hook:
        assert hook.deliver(PAYLOAD, "obs:1") == "msg-1"
        assert hook.deliver(PAYLOAD, "obs:1") == "msg-1"  # local ledger: no second request
    assert len(receiver.seen) == 1
    req = receiver.accepted[0]
    assert json.loads(req["body"].decode("utf-8")) == PAYLOAD
    assert "体温" in req["body"].decode("utf-8")  # UTF-8, not \u escapes
    assert req["headers"]["Idempotency-Key"] == "obs:1"
    assert req["headers"]["X-Tenant"] == "home-care-01"
    assert req["headers"]["Content-Type"].startswith("application/json")
    assert req["path"] == "/inbox?tenant=t1"
    # A fresh connector on the same data folder remembers the delivery too.
    with _make(receiver.url, tmp_path, monkeypatch) as again:
        assert again.deliver(PAYLOAD, "obs:1") == "msg-1"
    assert len(receiver.seen) == 1


def test_wrong_secret_is_the_destinations_failure_retried_by_the_engine(receiver, tmp_path, monkeypatch) -> None:
    """A refused signature is not the payload's fault: retryable (the engine backs off until the secret is
    fixed), and not repeated in the call, since the same credentials would be refused again at once."""
    hook = _make(receiver.url, tmp_path, monkeypatch, secret="not-the-secret")
    with hook, pytest.raises(WebhookAuthError, match="401") as err:
        hook.deliver(PAYLOAD, "obs:2")
    assert isinstance(err.value, RetryableDeliveryError)
    assert isinstance(err.value.__cause__, requests.HTTPError)
    assert len(receiver.seen) == 1 and receiver.accepted == []


def test_server_error_then_success_is_retried_and_delivered_once(receiver, tmp_path, monkeypatch) -> None:
    receiver.script = [500, 503, 200]
    with _make(receiver.url, tmp_path, monkeypatch) as hook:
        assert hook.deliver(PAYLOAD, "obs:3") == "msg-1"
    assert len(receiver.seen) == 3 and len(receiver.accepted) == 1


def test_server_errors_past_the_attempts_are_retryable(receiver, tmp_path, monkeypatch) -> None:
    receiver.script = [500, 500, 500]
    with _make(receiver.url, tmp_path, monkeypatch, attempts=3) as hook, pytest.raises(RetryableDeliveryError):
        hook.deliver(PAYLOAD, "obs:4")
    assert len(receiver.seen) == 3 and receiver.accepted == []


def test_bad_request_is_not_retried(receiver, tmp_path, monkeypatch) -> None:
    receiver.script = [400]
    with _make(receiver.url, tmp_path, monkeypatch) as hook, pytest.raises(PermanentDeliveryError, match="400"):
        hook.deliver(PAYLOAD, "obs:5")
    assert len(receiver.seen) == 1


def test_timeout_is_retryable(receiver, tmp_path, monkeypatch) -> None:
    receiver.script = ["sleep"]
    hook = _make(receiver.url, tmp_path, monkeypatch, read_timeout=0.2, attempts=1)
    with hook, pytest.raises(RetryableDeliveryError, match="timed out") as err:
        hook.deliver(PAYLOAD, "obs:6")
    assert isinstance(err.value.__cause__, requests.Timeout)


def test_connection_refused_is_retryable(tmp_path, monkeypatch) -> None:
    hook = _make("http://127.0.0.1:9/x", tmp_path, monkeypatch, attempts=2)
    with hook, pytest.raises(RetryableDeliveryError, match="cannot connect"):
        hook.deliver(PAYLOAD, "obs:7")


# -- unit tests ---------------------------------------------------------------------------------------


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = '{"a":"体温"}'.encode()
    want = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(b"k", "1700000000", body) == "sha256=" + want
    assert sign(b"k", "1700000001", body) != "sha256=" + want


@responses.activate
def test_rate_limit_is_retried_and_receipt_falls_back_to_location(tmp_path, monkeypatch) -> None:
    url = "https://partner.example.jp/inbox"
    responses.post(url, status=429)
    responses.post(url, status=201, headers={"Location": "/inbox/77"}, body="")
    with _make(url, tmp_path, monkeypatch) as hook:
        assert hook.deliver(PAYLOAD, "k1") == "/inbox/77"
    assert len(responses.calls) == 2
    # Each try is signed afresh, over the same body.
    for call in responses.calls:
        ts = call.request.headers["X-Renkei-Timestamp"]
        assert call.request.headers["X-Renkei-Signature"] == sign(SECRET.encode(), ts, call.request.body)


@responses.activate
def test_secret_headers_come_from_the_environment_and_never_print(tmp_path, monkeypatch) -> None:
    url = "https://partner.example.jp/inbox?token=abc"
    responses.put(url, json={"id": 5})
    monkeypatch.setenv("PARTNER_AUTH", "Bearer top-secret")
    hook = _make(url, tmp_path, monkeypatch, method="PUT", header_secrets_env={"Authorization": "PARTNER_AUTH"})
    with hook:
        assert hook.deliver(PAYLOAD, "k2") == "5"
        assert "top-secret" not in repr(hook) and SECRET not in repr(hook) and "token=abc" not in repr(hook)
    assert responses.calls[0].request.headers["Authorization"] == "Bearer top-secret"


def test_settings_refuse_inline_or_missing_secrets(tmp_path, monkeypatch) -> None:
    cls = WebhookDestination.Settings
    with pytest.raises(ValueError, match="exactly one"):
        cls(url="https://x.example.jp/")
    with pytest.raises(ValueError, match="exactly one"):
        cls(url="https://x.example.jp/", secret_env="A", secret_file=tmp_path / "s")
    with pytest.raises(ValueError, match="credentials"):
        cls(url="https://user:pw@x.example.jp/", secret_env="A")
    with pytest.raises(ValueError, match="http"):
        cls(url="ftp://x.example.jp/", secret_env="A")
    monkeypatch.delenv("RENKEI_TEST_UNSET", raising=False)
    with pytest.raises(ConfigError, match="RENKEI_TEST_UNSET"):
        WebhookDestination(
            "w", cls(url="https://x.example.jp/", secret_env="RENKEI_TEST_UNSET"), ConnectorContext(tmp_path)
        )
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    hook = WebhookDestination(
        "w", cls(url="https://x.example.jp/", secret_file=secret_file), ConnectorContext(tmp_path)
    )
    hook.close()


FIXTURES = Path(__file__).resolve().parents[2] / "mappings" / "specs" / "fixtures" / "lab_to_sns_vitals"


@responses.activate
def test_level4_mapping_shapes_the_body(tmp_path, monkeypatch) -> None:
    """The shipped lab_to_sns_vitals mapping, fed its own fixture, sends exactly the fixture's output."""
    url = "https://partner.example.jp/vitals"
    responses.post(url, json={"id": "v1"})
    given = json.loads((FIXTURES / "home_vitals_unit_conversion.input.json").read_text(encoding="utf-8"))
    expected = json.loads((FIXTURES / "home_vitals_unit_conversion.output.json").read_text(encoding="utf-8"))
    with _make(url, tmp_path, monkeypatch, mapping="lab_to_sns_vitals") as hook:
        assert hook.deliver(given, "vitals:1") == "v1"
        with pytest.raises(PermanentDeliveryError, match="lab_to_sns_vitals"):
            hook.deliver([{"no": "observation"}], "vitals:2")
    assert len(responses.calls) == 1
    assert json.loads(responses.calls[0].request.body) == expected


def test_unknown_mapping_is_a_config_error(tmp_path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match="no_such_mapping"):
        _make("https://partner.example.jp/", tmp_path, monkeypatch, mapping="no_such_mapping")

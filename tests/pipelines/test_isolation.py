"""Failure isolation: a destination that is down backs off on its own while the others deliver, and an
outage of ten minutes loses nothing and keeps every patient's order.

The webhook is a real loopback HTTP server; "Matrix down" is a real loopback server answering 502 to
every request (as a reverse proxy in front of a stopped homeserver does), so the Matrix connector runs its
real HTTP path and the test can count what reached it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from renkei.connectors.ssmix2.generator import generate
from renkei.errors import RetryableDeliveryError
from renkei.pipelines import delivery as delivery_module
from renkei.pipelines.schema import DeliveryState, MessageState

from .conftest import CONFIG


class Recorder(ThreadingHTTPServer):
    """Answers every request with `status`; counts the requests (and keeps POST bodies)."""

    daemon_threads = True

    def __init__(self, status: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = status
        self.requests: list[str] = []
        self.bodies: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        self.server.requests.append(f"{self.command} {self.path}")
        self.server.bodies.append(body)
        data = b'{"id": "r1"}' if self.server.status < 300 else b'{"errcode": "M_UNKNOWN", "error": "bad gateway"}'
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer


def _serve(status: int) -> Iterator[Recorder]:
    server = Recorder(status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook_server() -> Iterator[Recorder]:
    yield from _serve(200)


@pytest.fixture
def matrix_down() -> Iterator[Recorder]:
    yield from _serve(502)


TWO_DESTINATIONS = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  matrix: {{type: matrix, homeserver: "MATRIX_URL", user_id: "@renkei:test.local", token_env: RENKEI_T_MX,
           attempts: 1, connect_timeout: 2, read_timeout: 2}}
  partner: {{type: webhook, url: "WEBHOOK_URL/inbox", secret_env: RENKEI_T_WH, attempts: 1}}
pipelines:
  - name: sync
    source: ehr
    destinations: [matrix, partner]
    gates: {{consent: false}}
    retry: {{initial_backoff_seconds: 1.5, max_backoff_seconds: 60, jitter_seconds: 0}}
"""


def test_matrix_down_does_not_stop_the_webhook_and_matrix_backs_off(
    tmp_path: Path, make_engine, webhook_server: Recorder, matrix_down: Recorder, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("RENKEI_T_MX", "token-for-tests")
    monkeypatch.setenv("RENKEI_T_WH", "secret-for-tests")
    generate(tmp_path / "storage", patients=3, labs_per_patient=2, seed=5)
    config = TWO_DESTINATIONS.replace("MATRIX_URL", matrix_down.url).replace("WEBHOOK_URL", webhook_server.url)
    engine = make_engine(tmp_path / "storage", config)
    caplog.set_level(logging.INFO, logger="renkei")

    stats = engine.run_pipeline(engine.pipeline("sync"))

    # The webhook got every message in the same run, and its outcomes were recorded (SENT, 1 attempt).
    assert len(webhook_server.bodies) == 9 and stats.sent == 9
    counts = engine.store.delivery_counts()
    assert counts["partner"] == {"SENT": 9}
    # Matrix: each patient's first delivery is ERROR with its attempt and next attempt time recorded;
    # the later ones wait behind it (QUEUED, not attempted), so order holds. None is DEAD.
    assert counts["matrix"] == {"ERROR": 3, "QUEUED": 6}
    heads = [r for r in _deliveries(engine, "matrix") if r.state == DeliveryState.ERROR]
    assert len({r.patient_id for r in heads}) == 3
    assert {r.attempts for r in heads} == {1}
    assert all(r.last_error.startswith("HttpRetryableError: Matrix") for r in heads)  # connectors/http_errors.py
    assert all(r.id == min(x.id for x in _deliveries(engine, "matrix") if x.patient_id == r.patient_id) for r in heads)
    reached = len(matrix_down.requests)
    assert reached >= 1

    # Backing off: rounds before the next attempt time do not touch the homeserver.
    for _ in range(3):
        engine.deliver_due()
    assert len(matrix_down.requests) == reached
    assert engine.store.delivery_counts()["matrix"] == {"ERROR": 3, "QUEUED": 6}

    # Once due, it tries again and the next wait doubles (1.5 s, then 3 s: jitter is off here).
    first_wait = min(r.next_attempt_at for r in heads) - min(r.first_attempt_at for r in heads)
    assert first_wait == pytest.approx(1.5, abs=0.3)
    time.sleep(max(0.0, max(r.next_attempt_at for r in heads) - time.time()) + 0.05)
    before = time.time()
    engine.deliver_due()
    after = time.time()
    second = [r for r in _deliveries(engine, "matrix") if r.state == DeliveryState.ERROR]
    assert len(matrix_down.requests) > reached
    assert [r.id for r in second] == [r.id for r in heads] and {r.attempts for r in second} == {2}
    assert all(before + 3.0 <= r.next_attempt_at <= after + 3.0 for r in second)
    assert engine.store.delivery_counts()["partner"] == {"SENT": 9}  # nothing sent twice
    assert len(webhook_server.bodies) == 9

    # One log line for the outage, no tracebacks, no line per delivery.
    failing = [r for r in caplog.records if "is failing" in r.getMessage()]
    assert len(failing) == 1 and "matrix" in failing[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 2


def _deliveries(engine, destination: str) -> list[Any]:
    import sqlalchemy as sa

    from renkei.pipelines.schema import deliveries

    with engine.store.read() as conn:
        return conn.execute(
            sa.select(deliveries).where(deliveries.c.destination == destination).order_by(deliveries.c.id)
        ).all()


class SimulatedClock:
    """Stands in for the delivery module's `time` module: time.time() is simulated, everything else is real."""

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class DownUntil:
    """The real built-in timeline behind a link that is down (deliveries and group creation fail) until
    the simulated clock passes `until`. Records what reached the timeline, in order."""

    def __init__(self, real: Any, clock: SimulatedClock, until: float) -> None:
        self.real, self.clock, self.until = real, clock, until
        self.name = real.name
        self.failed_calls = 0
        self.delivered: list[tuple[str, str]] = []  # (patient id, idempotency key)

    def _check(self) -> None:
        if self.clock.now < self.until:
            self.failed_calls += 1
            raise RetryableDeliveryError("timeline: cannot connect (simulated outage)")

    def deliver(self, payload: dict[str, Any], key: str) -> str:
        self._check()
        receipt = self.real.deliver(payload, key)
        self.delivered.append((payload["patient_id"], key))
        return receipt

    def ensure_groups(self, patient_ids: list[str]) -> dict[str, str]:
        self._check()
        return self.real.ensure_groups(patient_ids)

    def close(self) -> None:
        self.real.close()

    def __getattr__(self, name: str) -> Any:
        if name == "deliver_many":
            raise AttributeError(name)
        return getattr(self.real, name)


DEFAULT_RETRY = CONFIG.replace(
    "    retry: {{max_attempts: 3, initial_backoff_seconds: 0.01, max_backoff_seconds: 0.05, jitter_seconds: 0}}\n", ""
)


def test_a_ten_minute_outage_loses_nothing_and_keeps_each_patients_order(
    tmp_path: Path, make_engine, monkeypatch
) -> None:
    """Default retry settings (the old default gave up after 8 attempts, about 130 s)."""
    assert "retry:" not in DEFAULT_RETRY
    clock = SimulatedClock(time.time())
    monkeypatch.setattr(delivery_module, "time", clock)
    start = clock.now
    generate(tmp_path / "storage", patients=4, labs_per_patient=3, seed=11)
    engine = make_engine(tmp_path / "storage", DEFAULT_RETRY)
    link = DownUntil(engine.connector("timeline"), clock, until=start + 600)
    engine._connectors["timeline"] = link

    engine.run_pipeline(engine.pipeline("sync"))
    clock.now = time.time() + 1  # the store stamps new deliveries with the real time
    engine.deliver_due()
    assert link.delivered == [] and engine.store.counts() == {"sync": {"ERROR": 4, "QUEUED": 12}}
    while clock.now < start + 600 + 400:  # the outage, then at most one capped backoff (300 s + jitter)
        clock.now += 5
        engine.deliver_due()
        assert MessageState.DEAD not in engine.store.counts()["sync"]

    assert engine.store.counts() == {"sync": {"SENT": 16}}  # 0 lost, 0 DEAD
    assert len(link.delivered) == 16 and len(set(link.delivered)) == 16
    # it kept trying past the old 8-attempt cap, backing off (1, 2, 4 … 256, 300 s), not every 5 s round
    assert 8 < link.failed_calls < 20
    ids = {r.idempotency_key: r.id for r in _deliveries(engine, "timeline")}
    for patient in {pid for pid, _ in link.delivered}:
        sent_order = [ids[key] for pid, key in link.delivered if pid == patient]
        assert sent_order == sorted(sent_order), patient
        tl = link.real
        assert tl.read(tl.group_for_patient(patient))[0]["text"].startswith("【患者基本情報】")
    for row in _deliveries(engine, "timeline"):
        assert row.state == DeliveryState.SENT and row.attempts >= 1


class GroupFailsFor:
    """The real built-in timeline, creating groups one by one, refusing one patient's group for good."""

    def __init__(self, real: Any, patient_id: str) -> None:
        self.real, self.patient_id = real, patient_id
        self.name = real.name

    def ensure_group(self, patient_id: str, title: str = "") -> str:
        if patient_id == self.patient_id:
            from renkei.errors import PermanentDeliveryError

            raise PermanentDeliveryError("timeline: group name refused (HTTP 400)")
        return self.real.ensure_group(patient_id, title)

    def close(self) -> None:
        self.real.close()

    def __getattr__(self, name: str) -> Any:
        if name in ("deliver_many", "ensure_groups"):
            raise AttributeError(name)
        return getattr(self.real, name)


def test_one_patients_group_failing_stops_only_that_patient(tmp_path: Path, make_engine) -> None:
    written = generate(tmp_path / "storage", patients=3, labs_per_patient=2, seed=5)
    engine = make_engine(tmp_path / "storage")
    victim = written[0].records[0].patient_id
    engine._connectors["timeline"] = GroupFailsFor(engine.connector("timeline"), victim)

    stats = engine.run_pipeline(engine.pipeline("sync"))

    assert (stats.sent, stats.dead) == (6, 1)  # the others' six posts; the victim's first DEAD
    rows = [r for r in _deliveries(engine, "timeline") if r.patient_id == victim]
    assert rows[0].state == DeliveryState.DEAD
    assert rows[0].last_error == "PermanentDeliveryError: timeline: group name refused (HTTP 400)"
    assert [r.last_error for r in rows[1:]] == [f"held behind delivery {rows[0].id} (DEAD)"] * 2


@pytest.fixture
def matrix_refusing_token() -> Iterator[Recorder]:
    yield from _serve(401)


def test_a_refused_access_token_backs_off_alone_and_never_goes_dead(
    tmp_path: Path, make_engine, webhook_server: Recorder, matrix_refusing_token: Recorder, monkeypatch, caplog
) -> None:
    """An auth failure is the destination's, not a post's: ERROR with backoff (until max_age), so fixing the
    token lets everything flow in order; the webhook is not affected."""
    monkeypatch.setenv("RENKEI_T_MX", "expired-token")
    monkeypatch.setenv("RENKEI_T_WH", "secret-for-tests")
    generate(tmp_path / "storage", patients=2, labs_per_patient=1, seed=7)
    config = TWO_DESTINATIONS.replace("MATRIX_URL", matrix_refusing_token.url).replace(
        "WEBHOOK_URL", webhook_server.url
    )
    engine = make_engine(tmp_path / "storage", config)
    caplog.set_level(logging.INFO, logger="renkei")

    engine.run_pipeline(engine.pipeline("sync"))
    engine.deliver_due()

    counts = engine.store.delivery_counts()
    assert counts["partner"] == {"SENT": 4} and len(webhook_server.bodies) == 4
    assert counts["matrix"] == {"ERROR": 2, "QUEUED": 2}  # each patient's first, backing off; none DEAD
    errors = {r.last_error for r in _deliveries(engine, "matrix") if r.state == DeliveryState.ERROR}
    assert len(errors) == 1 and errors.pop().startswith("MatrixAuthError: Matrix ")
    assert len(matrix_refusing_token.requests) == 1  # refused once, then backing off (not per patient)
    assert [r.getMessage() for r in caplog.records if "is failing" in r.getMessage()] == [
        "destination matrix is failing (MatrixAuthError); 2 deliveries will retry with backoff, recorded on each "
        "(renkei messages list --state ERROR); next line when it recovers"
    ]
    assert not [r for r in caplog.records if r.exc_info]

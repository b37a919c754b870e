"""Delivery: retries with backoff then DEAD, per-patient order, no stall across patients, exactly once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from renkei.connectors.ssmix2.generator import generate
from renkei.errors import PermanentDeliveryError, RetryableDeliveryError
from renkei.pipelines.schema import DeliveryState, MessageState

from .conftest import CONFIG


class FailingFor:
    """Wraps the real built-in timeline and fails deliveries for one patient (fault injection)."""

    def __init__(self, real: Any, patient_id: str, error: Exception, times: int) -> None:
        self.real, self.patient_id, self.error, self.left = real, patient_id, error, times
        self.name = real.name
        self.calls: list[str] = []

    def deliver(self, payload: dict[str, Any], key: str) -> str:
        self.calls.append(payload["patient_id"])
        if payload["patient_id"] == self.patient_id and self.left > 0:
            self.left -= 1
            raise self.error
        return self.real.deliver(payload, key)

    def close(self) -> None:
        self.real.close()

    def __getattr__(self, name: str) -> Any:  # the rest of the Timeline contract, unchanged
        if name == "deliver_many":
            raise AttributeError(name)  # one by one, so the fault can hit single deliveries
        return getattr(self.real, name)


def _setup(tmp_path: Path, make_engine, error: Exception, times: int, backoff: float = 0.01):
    written = generate(tmp_path / "storage", patients=3, labs_per_patient=2, seed=5)
    config = CONFIG.replace(
        "initial_backoff_seconds: 0.01, max_backoff_seconds: 0.05",
        f"initial_backoff_seconds: {backoff}, max_backoff_seconds: {backoff}",
    )
    engine = make_engine(tmp_path / "storage", config)
    victim = written[0].records[0].patient_id
    wrapper = FailingFor(engine.connector("timeline"), victim, error, times)
    engine._connectors["timeline"] = wrapper
    return engine, wrapper, victim


def _timeline_texts(engine, wrapper, patient_id: str) -> list[str]:
    tl = wrapper.real
    return [p["text"] for p in tl.read(tl.group_for_patient(patient_id))]


def test_failing_patient_does_not_stall_others_and_keeps_its_order(tmp_path: Path, make_engine) -> None:
    engine, wrapper, victim = _setup(tmp_path, make_engine, RetryableDeliveryError("503"), times=2, backoff=0.5)
    stats = engine.run_pipeline(engine.pipeline("sync"))
    # Every other patient's three posts went out; the victim's first failed and held back its other two.
    assert stats.sent == 6
    assert wrapper.calls.count(victim) == 1
    pending = engine.store.list_messages(patient_id=victim)
    assert sorted(m.state for m in pending) == ["ERROR", "QUEUED", "QUEUED"]
    deadline = time.monotonic() + 5
    while engine.store.counts()["sync"].get("SENT") != 9 and time.monotonic() < deadline:
        time.sleep(0.05)
        engine.deliver_due()
    texts = _timeline_texts(engine, wrapper, victim)
    assert len(texts) == 3 and texts[0].startswith("【患者基本情報】")  # ADT-00 first: order kept
    assert engine.store.counts() == {"sync": {"SENT": 9}}
    assert wrapper.calls.count(victim) == 2 + 3


def test_retries_exhausted_go_dead_and_reprocess_delivers(tmp_path: Path, make_engine) -> None:
    engine, wrapper, victim = _setup(tmp_path, make_engine, RetryableDeliveryError("timeout"), times=3)
    engine.run_pipeline(engine.pipeline("sync"))
    for _ in range(40):
        time.sleep(0.02)
        engine.deliver_due()
    dead = engine.store.list_messages(state=MessageState.DEAD)
    assert [m.patient_id for m in dead] == [victim]
    _, dels = engine.store.get_message(dead[0].id)
    assert dels[0].state == DeliveryState.DEAD and dels[0].attempts == 3
    assert dels[0].last_error.startswith("retries exhausted: RetryableDeliveryError: timeout")
    engine.reprocess([dead[0].id])
    for _ in range(5):
        engine.deliver_due()
    assert engine.store.get_message(dead[0].id)[0].state == MessageState.SENT
    assert len(_timeline_texts(engine, wrapper, victim)) == 3


def test_permanent_error_is_dead_at_once(tmp_path: Path, make_engine) -> None:
    engine, _, victim = _setup(tmp_path, make_engine, PermanentDeliveryError("group unknown"), times=1)
    engine.run_pipeline(engine.pipeline("sync"))
    dead = engine.store.list_messages(state=MessageState.DEAD)
    assert len(dead) == 1 and dead[0].patient_id == victim
    assert engine.store.get_message(dead[0].id)[1][0].attempts == 1


def test_replayed_delivery_after_crash_posts_once(tmp_path: Path, make_engine) -> None:
    """A crash after the timeline committed but before the engine recorded SENT: the retry must not
    post again (the destination honours the idempotency key)."""
    generate(tmp_path / "storage", patients=1, labs_per_patient=1, seed=9)
    engine = make_engine(tmp_path / "storage")
    p = engine.pipeline("sync")
    engine.store.save_delivery_outcomes = lambda outcomes: None  # the "crash": outcomes never recorded
    engine.run_pipeline(p)
    del engine.store.save_delivery_outcomes
    assert engine.store.counts() == {"sync": {"QUEUED": 2}}
    engine.deliver_due()
    assert engine.store.counts() == {"sync": {"SENT": 2}}
    tl = engine.connector("timeline")
    assert sum(g["posts"] for g in tl.list_groups()) == 2

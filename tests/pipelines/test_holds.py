"""A DEAD head holds its patient's later deliveries to that destination (state and reason visible) until
it is reprocessed or skipped; reprocessing delivers in order."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from renkei.connectors.ssmix2.generator import generate
from renkei.errors import PermanentDeliveryError, RetryableDeliveryError
from renkei.pipelines import holds
from renkei.pipelines.schema import DeliveryState, MessageState

from .test_delivery import _setup, _timeline_texts


def _victim_rows(engine, victim: str) -> list[Any]:
    msgs = sorted(engine.store.list_messages(patient_id=victim), key=lambda m: m.id)
    return [engine.store.get_message(m.id)[1][0] for m in msgs]


def test_dead_head_holds_the_patients_later_messages_until_reprocessed(tmp_path: Path, make_engine) -> None:
    engine, wrapper, victim = _setup(tmp_path, make_engine, PermanentDeliveryError("HTTP 400"), times=1)
    stats = engine.run_pipeline(engine.pipeline("sync"))
    assert stats.sent == 6 and stats.dead == 1  # the other two patients delivered in full
    head, *later = _victim_rows(engine, victim)
    assert head.state == DeliveryState.DEAD and head.last_error == "PermanentDeliveryError: HTTP 400"
    for row in later:  # visible: still QUEUED, with the reason naming the head
        assert row.state == DeliveryState.QUEUED
        assert row.last_error == f"held behind delivery {head.id} (DEAD)"
    for _ in range(3):  # rounds later: still held, never attempted
        engine.deliver_due()
    assert wrapper.calls.count(victim) == 1
    assert [m.state for m in sorted(engine.store.list_messages(patient_id=victim), key=lambda m: m.id)] == [
        MessageState.DEAD, MessageState.QUEUED, MessageState.QUEUED
    ]  # fmt: skip

    engine.reprocess([head.message_id])

    assert [r.state for r in _victim_rows(engine, victim)] == [DeliveryState.SENT] * 3
    assert all(r.last_error == "" for r in _victim_rows(engine, victim))
    texts = _timeline_texts(engine, wrapper, victim)
    assert len(texts) == 3 and texts[0].startswith("【患者基本情報】")  # ADT-00 first, as received


def test_skipping_a_dead_head_lets_the_later_messages_go(tmp_path: Path, make_engine) -> None:
    engine, wrapper, victim = _setup(tmp_path, make_engine, PermanentDeliveryError("HTTP 400"), times=1)
    engine.run_pipeline(engine.pipeline("sync"))
    head, *later = _victim_rows(engine, victim)
    assert [r.last_error for r in later] == [f"held behind delivery {head.id} (DEAD)"] * 2

    assert holds.skip(engine.store, [head.message_id]) == {head.message_id: 1}
    engine.deliver_due()

    head_now, *later = _victim_rows(engine, victim)
    assert head_now.state == DeliveryState.DEAD  # still there, reprocessable, and marked
    assert head_now.last_error == "skipped by operator: PermanentDeliveryError: HTTP 400"
    assert [r.state for r in later] == [DeliveryState.SENT, DeliveryState.SENT]
    assert len(_timeline_texts(engine, wrapper, victim)) == 2
    assert holds.skip(engine.store, [head.message_id]) == {head.message_id: 0}  # skipping twice: nothing
    actions = _audit_actions(engine)
    assert actions.count("delivery.skip") == 1


def _audit_actions(engine) -> list[str]:
    import sqlalchemy as sa

    from renkei.pipelines.schema import audit_log

    with engine.store.read() as conn:
        return [a for (a,) in conn.execute(sa.select(audit_log.c.action)).all()]


class DownForAll:
    """The built-in timeline, failing every delivery while `down` (retries exhausted → DEAD heads)."""

    def __init__(self, real: Any) -> None:
        self.real, self.down = real, True
        self.name = real.name
        self.sent: list[tuple[str, str]] = []

    def deliver(self, payload: dict[str, Any], key: str) -> str:
        if self.down:
            raise RetryableDeliveryError("503")
        self.sent.append((payload["patient_id"], key))
        return self.real.deliver(payload, key)

    def close(self) -> None:
        self.real.close()

    def __getattr__(self, name: str) -> Any:
        if name == "deliver_many":
            raise AttributeError(name)
        return getattr(self.real, name)


def test_reprocess_all_after_retries_exhausted_keeps_every_timeline_in_order(tmp_path: Path, make_engine) -> None:
    """The test config caps attempts at 3: every patient's head goes DEAD, its later messages wait."""
    generate(tmp_path / "storage", patients=3, labs_per_patient=2, seed=5)
    engine = make_engine(tmp_path / "storage")
    link = DownForAll(engine.connector("timeline"))
    engine._connectors["timeline"] = link
    engine.run_pipeline(engine.pipeline("sync"))
    deadline = time.monotonic() + 5
    while engine.store.counts()["sync"].get("DEAD", 0) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
        engine.deliver_due()
    assert engine.store.counts() == {"sync": {"DEAD": 3, "QUEUED": 6}}  # heads DEAD, nothing passed them
    assert link.sent == []
    link.down = False  # the outage ends: the service's next rounds must not post past the DEAD heads
    for _ in range(2):
        engine.deliver_due()
    assert link.sent == [] and engine.store.counts() == {"sync": {"DEAD": 3, "QUEUED": 6}}

    dead = engine.store.messages_in_states("sync", [MessageState.DEAD])
    engine.reprocess([m.id for m in dead])

    assert engine.store.counts() == {"sync": {"SENT": 9}}
    ids = {}
    for m in engine.store.list_messages(pipeline="sync"):
        for d in engine.store.get_message(m.id)[1]:
            ids[d.idempotency_key] = d.id
    for patient in {pid for pid, _ in link.sent}:
        order = [ids[key] for pid, key in link.sent if pid == patient]
        assert len(order) == 3 and order == sorted(order), patient
        assert _timeline_texts(engine, link, patient)[0].startswith("【患者基本情報】")


def test_deliveries_queued_or_made_pending_after_the_head_died_are_held_too(tmp_path: Path, make_engine) -> None:
    import sqlalchemy as sa

    from renkei.pipelines.schema import deliveries

    engine, wrapper, victim = _setup(tmp_path, make_engine, PermanentDeliveryError("HTTP 400"), times=1)
    engine.run_pipeline(engine.pipeline("sync"))
    head, second, third = _victim_rows(engine, victim)
    with engine.store.write() as conn:
        # a later message's delivery queued now, and a held one made pending again (as an approval does)
        copy = {c.name: getattr(third, c.name) for c in deliveries.c if c.name != "id"}
        conn.execute(deliveries.insert().values(**{**copy, "idempotency_key": "later-one", "last_error": ""}))
        conn.execute(
            deliveries.update().where(deliveries.c.id == second.id).values(last_error="", next_attempt_at=time.time())
        )
    engine.deliver_due()
    assert wrapper.calls.count(victim) == 1  # only the head's one failed attempt, ever
    with engine.store.read() as conn:
        rows = conn.execute(
            sa.select(deliveries.c.state, deliveries.c.last_error)
            .where(deliveries.c.patient_id == victim, deliveries.c.id > head.id)
            .order_by(deliveries.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [("QUEUED", f"held behind delivery {head.id} (DEAD)")] * 3

"""Gates: no consent -> nothing reaches the timeline; sensitive items wait for a physician; posts go only
to the group the registry links to the person. Asserted against the timeline itself."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from renkei.connectors.base import Attachment, TimelinePost
from renkei.connectors.ssmix2.generator import generate
from renkei.errors import RefusedError
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import MessageState

GATED = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  timeline: {{type: builtin, members: [nurse.sato]}}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline]
    gates: {{consent: true, consent_scope: timeline, approval: {{required_for: [high]}}}}
"""


def _posts_by_patient(engine) -> dict[str, int]:
    return {g["patient_id"]: g["posts"] for g in engine.connector("timeline").list_groups()}


@pytest.fixture
def gated(tmp_path: Path, make_engine):
    written = generate(tmp_path / "storage", patients=2, labs_per_patient=2, seed=21)
    engine = make_engine(tmp_path / "storage", GATED)
    patients = sorted({w.records[0].patient_id for w in written})
    return engine, PatientRegistry(engine.store), patients


def test_without_consent_nothing_reaches_the_timeline(gated) -> None:
    engine, registry, (alice, bob) = gated
    registry.set_consent(alice, True, ["timeline"], date(2026, 4, 1))
    engine.run_pipeline(engine.pipeline("sync"))
    # ADT-00 (patient basics) is low sensitivity and goes; lab results (high) wait for approval.
    assert _posts_by_patient(engine) == {alice: 1}
    refused = engine.store.list_messages(patient_id=bob, state=MessageState.DEAD)
    assert len(refused) == 1
    delivery = engine.store.get_message(refused[0].id)[1][0]
    assert delivery.last_error == f"RefusedError: patient {bob} has no consent on record (gate: consent)"
    # Consent given later: reprocess sends what was refused, and only that.
    registry.set_consent(bob, True, ["all"], date(2026, 4, 2))
    engine.reprocess([refused[0].id])
    assert _posts_by_patient(engine) == {alice: 1, bob: 1}


def test_withdrawn_consent_stops_what_is_still_waiting(gated) -> None:
    engine, registry, (alice, _bob) = gated
    registry.set_consent(alice, True, ["all"], date(2026, 4, 1))
    engine.run_pipeline(engine.pipeline("sync"))
    waiting = engine.store.list_messages(patient_id=alice, state=MessageState.AWAITING_APPROVAL)
    assert len(waiting) == 2
    registry.set_consent(alice, False, ["all"], date(2026, 5, 1))
    engine.store.decide_approval(waiting[0].id, True, "dr.tanaka checked")
    engine.deliver_due()
    assert _posts_by_patient(engine) == {alice: 1}  # still only the patient basics
    assert "withdrew consent on 2026-05-01" in engine.store.get_message(waiting[0].id)[1][0].last_error


def test_high_sensitivity_waits_for_approval_and_a_rejection_never_posts(gated) -> None:
    engine, registry, (alice, _bob) = gated
    registry.set_consent(alice, True, ["all"], date(2026, 4, 1))
    engine.run_pipeline(engine.pipeline("sync"))
    labs = engine.store.list_messages(patient_id=alice, state=MessageState.AWAITING_APPROVAL)
    assert [m.data_type for m in labs] == ["OML-11", "OML-11"]
    tl = engine.connector("timeline")
    assert [p["text"].split("\n")[0] for p in tl.read(tl.group_for_patient(alice))] == [
        "【患者基本情報】電子カルテの基本情報を受け取りました"
    ]
    engine.store.decide_approval(labs[0].id, True, "ok")
    engine.store.decide_approval(labs[1].id, False, "wrong patient suspected")
    engine.deliver_due()
    texts = [p["text"] for p in tl.read(tl.group_for_patient(alice))]
    assert len(texts) == 2 and texts[1].startswith("【検査結果】")
    rejected, _ = engine.store.get_message(labs[1].id)
    assert (rejected.state, rejected.reason) == ("FILTERED", "rejected by a physician: wrong patient suspected")
    engine.deliver_due()
    assert len(tl.read(tl.group_for_patient(alice))) == 2


def test_posts_go_to_the_group_the_registry_links(gated) -> None:
    engine, registry, (alice, bob) = gated
    tl = engine.connector("timeline")
    shared = tl.ensure_group("care-team-of-alice")  # e.g. a group made in the SNS before renkei
    registry.link(alice, "timeline:timeline", shared)
    registry.link(alice, "ehr:ehr", bob)  # bob's EHR id is another facility's id for the same person
    registry.set_consent(alice, True, ["all"], date(2026, 4, 1))
    engine.run_pipeline(engine.pipeline("sync"))
    counts = _posts_by_patient(engine)
    assert counts == {"care-team-of-alice": 2}  # both facilities' patient basics, in the linked group
    with pytest.raises(RefusedError, match="already linked"):
        registry.link(bob, "timeline:timeline", shared)


def test_push_is_refused_without_consent_and_posted_once_with_it(gated) -> None:
    engine, registry, (alice, _bob) = gated
    pdf = b"%PDF-1.7 care plan"
    post = TimelinePost(patient_id=alice, text="新しいケアプランです", tags=["ケアプラン"],
                        attachments=[Attachment("plan.pdf", "application/pdf", pdf)])  # fmt: skip
    with pytest.raises(RefusedError, match="no consent on record"):
        engine.push("timeline", post, actor="cm.suzuki")
    assert _posts_by_patient(engine) == {}
    registry.set_consent(alice, True, ["timeline"], date(2026, 4, 1))
    mid = engine.push("timeline", post, actor="cm.suzuki")
    tl = engine.connector("timeline")
    (posted,) = tl.read(tl.group_for_patient(alice))
    assert posted["text"] == "新しいケアプランです"
    assert tl.attachment_bytes(posted["attachments"][0]["sha256"]) == pdf
    engine.deliver_due()
    assert engine.store.get_message(mid)[0].state == MessageState.SENT
    assert len(tl.read(tl.group_for_patient(alice))) == 1

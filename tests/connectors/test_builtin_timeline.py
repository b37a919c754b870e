"""The built-in timeline: invite-only groups, idempotent posts, replace/retract, read receipts, unread."""

from __future__ import annotations

from pathlib import Path

import pytest

from renkei.connectors.base import Attachment, TimelinePost
from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.errors import NotFoundError, RefusedError


@pytest.fixture
def tl(tmp_path: Path):
    timeline = BuiltinTimeline.open(tmp_path, members=["nurse.sato", "dr.tanaka"])
    yield timeline
    timeline.close()


def _post(patient: str, text: str, record_key: str = "", retracts: bool = False) -> dict:
    return TimelinePost(
        patient_id=patient, text=text, tags=["検査結果"], record_key=record_key, retracts=retracts
    ).to_dict()


def test_one_invite_only_group_per_patient_with_default_members(tl: BuiltinTimeline) -> None:
    gid = tl.ensure_group("P1")
    assert tl.ensure_group("P1") == gid
    assert tl.members_of(gid) == ["dr.tanaka", "nurse.sato", "renkei"]
    tl.deliver(_post("P1", "体温 36.8"), "k1")
    with pytest.raises(RefusedError, match=r"cm\.suzuki is not a member"):
        tl.read(gid, "cm.suzuki")
    tl.invite(gid, "cm.suzuki")
    assert [p["text"] for p in tl.read(gid, "cm.suzuki")] == ["体温 36.8"]
    with pytest.raises(NotFoundError):
        tl.group_for_patient("P-unknown")


def test_same_key_posts_once_across_calls_batches_and_reopen(tmp_path: Path, tl: BuiltinTimeline) -> None:
    first = tl.deliver(_post("P1", "a"), "k1")
    assert tl.deliver(_post("P1", "a"), "k1") == first
    results = tl.deliver_many([(_post("P1", "b"), "k2"), (_post("P1", "b"), "k2"), (_post("P2", "c"), "k3")])
    assert results[0] == results[1] != results[2]
    again = BuiltinTimeline.open(tmp_path)
    try:
        assert again.deliver(_post("P1", "a"), "k1") == first
        assert sum(g["posts"] for g in again.list_groups()) == 3
    finally:
        again.close()


def test_update_replaces_and_delete_retracts_the_earlier_post(tl: BuiltinTimeline) -> None:
    tl.deliver(_post("P1", "TP 7.2", record_key="lab-1"), "v1")
    tl.deliver_many(
        [(_post("P1", "TP 7.4", record_key="lab-1"), "v2"), (_post("P1", "TP 7.5", record_key="lab-1"), "v3")]
    )
    posts = tl.read(tl.group_for_patient("P1"))
    assert [(p["text"], p["replaced_by"]) for p in posts] == [
        ("TP 7.2", posts[1]["id"]),
        ("TP 7.4", posts[2]["id"]),
        ("TP 7.5", None),
    ]
    tl.deliver(_post("P1", "取り消し", record_key="lab-1", retracts=True), "v4")
    posts = tl.read(tl.group_for_patient("P1"))
    assert posts[2]["retracted"] and posts[2]["replaced_by"] == posts[3]["id"]
    assert not posts[0]["retracted"]


def test_read_receipts_and_unread_counts(tl: BuiltinTimeline) -> None:
    tl.deliver_many([(_post("P1", "a"), "k1"), (_post("P1", "b"), "k2"), (_post("P2", "c"), "k3")])
    unread = {g["patient_id"]: g["unread"] for g in tl.list_groups("nurse.sato")}
    assert unread == {"P1": 2, "P2": 1}
    posts = tl.read(tl.group_for_patient("P1"), "nurse.sato")
    assert {r["member"] for p in posts for r in p["read_by"]} == {"nurse.sato"}
    unread = {g["patient_id"]: g["unread"] for g in tl.list_groups("nurse.sato")}
    assert unread == {"P1": 0, "P2": 1}
    assert {g["patient_id"]: g["unread"] for g in tl.list_groups("dr.tanaka")} == {"P1": 2, "P2": 1}


def test_attachments_are_kept_by_content(tl: BuiltinTimeline) -> None:
    pdf = b"%PDF-1.4 fake but real bytes"
    post = TimelinePost(
        patient_id="P1", text="退院時サマリー", attachments=[Attachment("summary.pdf", "application/pdf", pdf)]
    )
    tl.deliver(post.to_dict(), "a1")
    (stored,) = tl.read(tl.group_for_patient("P1"))[0]["attachments"]
    assert (stored["name"], stored["size"]) == ("summary.pdf", len(pdf))
    assert tl.attachment_bytes(stored["sha256"]) == pdf

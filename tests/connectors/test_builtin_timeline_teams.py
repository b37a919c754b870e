"""The built-in timeline's care teams and audiences: the team from the engine with roles, members removed,
and posts for an audience that members outside it never see (read, post and unread counts, receipts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from renkei.connectors.base import ConnectorContext, TimelinePost
from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.errors import PermanentDeliveryError, RefusedError

TEAM = [("dr.tanaka", "physician"), ("nurse.sato", "nurse"), ("cm.suzuki", "comedical"), ("dr.kato", "")]


@pytest.fixture
def tl(tmp_path: Path):
    settings = BuiltinTimeline.Settings(members=["seed.only"])
    timeline = BuiltinTimeline(
        "timeline", settings, ConnectorContext(data_dir=tmp_path, teams=lambda pids: {p: list(TEAM) for p in pids})
    )
    yield timeline
    timeline.close()


def _post(text: str, audience: str = "team") -> dict:
    return TimelinePost(patient_id="P1", text=text, audience=audience).to_dict()


def _texts(posts: list[dict]) -> list[str]:
    return [p["text"] for p in posts]


def test_a_new_group_invites_the_engines_team_with_roles(tl: BuiltinTimeline) -> None:
    gid = tl.ensure_group("P1")
    # the engine's team replaces the configured seed (the engine merges the seed into it itself)
    assert tl.member_roles(gid) == {
        "cm.suzuki": "comedical", "dr.kato": "", "dr.tanaka": "physician", "nurse.sato": "nurse", "renkei": "",
    }  # fmt: skip


def test_without_an_engine_the_configured_members_are_invited(tmp_path: Path) -> None:
    plain = BuiltinTimeline.open(tmp_path, members=["nurse.sato"])
    try:
        assert plain.member_roles(plain.ensure_group("P1")) == {"nurse.sato": "", "renkei": ""}
    finally:
        plain.close()


def test_each_member_sees_only_the_posts_of_their_audience(tl: BuiltinTimeline) -> None:
    gid = tl.ensure_group("P1")
    tl.deliver(_post("体温 36.8"), "k-team")
    tl.deliver(_post("病状説明の予定", "physicians"), "k-dr")
    tl.deliver(_post("福祉用具の相談", "roles:コメディカル,連携医師"), "k-cm")
    tl.deliver(_post("退院前カンファレンス", "医師のみ"), "k-dr2")

    # unread and post counts, before anyone reads: per member, only what they may see
    counts = {m: tl.list_groups(m)[0] for m in ("dr.tanaka", "nurse.sato", "cm.suzuki", "dr.kato")}
    assert {m: (g["posts"], g["unread"]) for m, g in counts.items()} == {
        "dr.tanaka": (3, 3), "nurse.sato": (1, 1), "cm.suzuki": (2, 2), "dr.kato": (1, 1),
    }  # fmt: skip

    assert _texts(tl.read(gid, "nurse.sato")) == ["体温 36.8"]
    assert _texts(tl.read(gid, "dr.tanaka")) == ["体温 36.8", "病状説明の予定", "退院前カンファレンス"]
    assert _texts(tl.read(gid, "cm.suzuki")) == ["体温 36.8", "福祉用具の相談"]
    assert _texts(tl.read(gid, "dr.kato")) == ["体温 36.8"]  # no known role: whole-team posts only
    assert _texts(tl.read(gid, whole_team_only=True)) == ["体温 36.8"]
    assert [g["posts"] for g in tl.list_groups(whole_team_only=True)] == [1]
    assert [g["posts"] for g in tl.list_groups()] == [4]  # the connector's own account counts every post

    every = {p["text"]: p for p in tl.read(gid)}  # the connector's own account: every post
    assert every["福祉用具の相談"]["audience"] == "roles:comedical,linked_physician"
    assert every["退院前カンファレンス"]["audience"] == "physicians"
    # read receipts only from the audience: the nurse's read never touched the physicians' post
    assert {r["member"] for r in every["病状説明の予定"]["read_by"]} == {"dr.tanaka"}
    assert {r["member"] for r in every["体温 36.8"]["read_by"]} == {"dr.tanaka", "nurse.sato", "cm.suzuki", "dr.kato"}
    assert tl.list_groups("nurse.sato")[0]["unread"] == 0
    tl.deliver(_post("処方変更", "physicians"), "k-dr3")
    assert tl.list_groups("nurse.sato")[0]["unread"] == 0  # a post she may not see is never unread for her
    assert tl.list_groups("dr.tanaka")[0]["unread"] == 1


def test_a_removed_member_reads_nothing_and_lists_no_group(tl: BuiltinTimeline) -> None:
    gid = tl.ensure_group("P1")
    tl.deliver(_post("体温 36.8"), "k1")
    assert tl.remove_member(gid, "nurse.sato") is True
    assert tl.remove_member(gid, "nurse.sato") is False
    with pytest.raises(RefusedError, match=r"nurse\.sato is not a member"):
        tl.read(gid, "nurse.sato")
    assert tl.list_groups("nurse.sato") == []
    assert "nurse.sato" not in tl.members_of(gid)
    # a changed role changes what a member sees at once
    tl.deliver(_post("病状説明", "physicians"), "k2")
    tl.add_member(gid, "cm.suzuki", "linked_physician")
    assert _texts(tl.read(gid, "cm.suzuki")) == ["体温 36.8", "病状説明"]
    tl.invite(gid, "cm.suzuki")  # the plain Timeline invite keeps the role a member has
    assert tl.member_roles(gid)["cm.suzuki"] == "linked_physician"


def test_an_unknown_audience_is_refused_never_posted_to_the_team(tl: BuiltinTimeline) -> None:
    gid = tl.ensure_group("P1")
    with pytest.raises(PermanentDeliveryError, match="not a team role"):
        tl.deliver(_post("秘密", "roles:family"), "k1")
    assert tl.read(gid) == []


def test_a_file_on_a_physicians_only_post_is_downloaded_only_by_its_audience(tl: BuiltinTimeline) -> None:
    from renkei.connectors.base import Attachment
    from renkei.errors import NotFoundError

    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    gid = tl.ensure_group("P1")
    post = TimelinePost(patient_id="P1", text="紹介状", audience="physicians",
                        attachments=[Attachment("紹介状.pdf", "application/pdf", pdf)])  # fmt: skip
    tl.deliver(post.to_dict(), "k-letter")
    (post_id,) = [p["id"] for p in tl.read(gid, "dr.tanaka")]

    meta, data = tl.attachment(gid, post_id, 0, "dr.tanaka")
    assert (meta["name"], data) == ("紹介状.pdf", pdf)
    for who, whole_team_only in (("nurse.sato", False), (None, True)):
        with pytest.raises(NotFoundError, match=f"no attachment 0 on post {post_id}"):
            tl.attachment(gid, post_id, 0, who, whole_team_only=whole_team_only)
    with pytest.raises(RefusedError, match="is not a member"):
        tl.attachment(gid, post_id, 0, "outsider")

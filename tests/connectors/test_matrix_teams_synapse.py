"""Care teams and audiences on a real Synapse: a member removed from a patient's team is kicked and reads
nothing new; a physicians-only post goes to a restricted room a nurse is never in and cannot read."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from renkei.connectors.base import ConnectorContext, TimelinePost
from renkei.connectors.matrix import PATIENT_STATE, MatrixForbiddenError, MatrixTimeline
from renkei.connectors.registry import connector_class

pytestmark = pytest.mark.integration

C = "/_matrix/client/v3"


def _q(s: str) -> str:
    return quote(s, safe="")


def _connector(hs, bot, data_dir: Path, monkeypatch, team: list[tuple[str, str]], audits: list) -> MatrixTimeline:
    monkeypatch.setenv("RENKEI_TEST_MATRIX_TOKEN", bot.access_token)
    cls = connector_class("matrix")
    settings = cls.Settings(homeserver=hs.url, user_id=bot.user_id, token_env="RENKEI_TEST_MATRIX_TOKEN")
    context = ConnectorContext(
        data_dir=data_dir,
        teams=lambda ids: {p: list(team) for p in ids},
        audit=lambda a, p, d: audits.append((a, p, d)),
    )
    return cls("care", settings, context)


def _join(hs, room: str, user) -> requests.Response:
    return requests.post(f"{hs.url}{C}/join/{_q(room)}", headers=user.headers, json={}, timeout=10)


def _messages(hs, room: str, user) -> requests.Response:
    return requests.get(
        f"{hs.url}{C}/rooms/{_q(room)}/messages", headers=user.headers, params={"dir": "b", "limit": 100}, timeout=10
    )


def _sync_texts(hs, user) -> list[str]:
    """Every message body the user's /sync shows, in every room section (join, invite, leave)."""
    body = requests.get(
        f"{hs.url}{C}/sync", headers=user.headers, params={"timeout": 0, "full_state": "true"}, timeout=10
    ).json()
    texts: list[str] = []
    for section in body.get("rooms", {}).values():
        for room in section.values():
            for e in room.get("timeline", {}).get("events", []):
                if e.get("type") == "m.room.message":
                    texts.append(e["content"].get("body", ""))
    return texts


def _texts(resp: requests.Response) -> list[str]:
    return [e["content"].get("body", "") for e in resp.json()["chunk"] if e["type"] == "m.room.message"]


def _post(text: str, audience: str = "team") -> dict[str, Any]:
    return TimelinePost(patient_id="P7001", text=text, audience=audience).to_dict()


def test_a_removed_member_is_kicked_and_reads_nothing_new(synapse, matrix_user, tmp_path, monkeypatch) -> None:
    bot, nurse, doctor = (matrix_user(n) for n in ("renkei-bot", "nurse", "doctor"))
    audits: list = []
    team = [(nurse.user_id, "nurse"), (doctor.user_id, "physician")]
    conn = _connector(synapse, bot, tmp_path, monkeypatch, team, audits)
    room = conn.ensure_group("P7001")
    for member in (nurse, doctor):
        assert _join(synapse, room, member).status_code == 200  # the team was invited at creation
    conn.deliver(_post("訪問看護 5/1 バイタル安定"), "k-before")
    assert "訪問看護 5/1 バイタル安定" in _texts(_messages(synapse, room, nurse))

    assert conn.remove_member(room, nurse.user_id) is True
    state = requests.get(
        f"{synapse.url}{C}/rooms/{_q(room)}/state/m.room.member/{_q(nurse.user_id)}", headers=bot.headers, timeout=10
    ).json()
    assert state["membership"] == "leave"  # kicked by the bot
    assert ("timeline.remove", "P7001", f"care: removed {nurse.user_id}") in audits
    assert conn.remove_member(room, nurse.user_id) is False  # nothing left to remove

    conn.deliver(_post("5/2 処方変更あり"), "k-after")
    resp = _messages(synapse, room, nurse)
    assert resp.status_code == 403 or "5/2 処方変更あり" not in _texts(resp)
    assert "5/2 処方変更あり" not in _sync_texts(synapse, nurse)
    assert "5/2 処方変更あり" in _texts(_messages(synapse, room, doctor))  # the others still read on
    refused = _join(synapse, room, nurse)
    assert refused.status_code == 403  # invite-only: she cannot come back by herself
    conn.close()


def test_a_physicians_only_post_is_not_visible_to_a_nurse(synapse, matrix_user, tmp_path, monkeypatch) -> None:
    bot, nurse, doctor, linked = (matrix_user(n) for n in ("renkei-bot", "nurse", "doctor", "linked"))
    team = [(nurse.user_id, "nurse"), (doctor.user_id, "physician"), (linked.user_id, "linked_physician")]
    audits: list = []
    conn = _connector(synapse, bot, tmp_path, monkeypatch, team, audits)
    room = conn.ensure_group("P7001")
    for member in (nurse, doctor):
        assert _join(synapse, room, member).status_code == 200

    receipt = conn.deliver(_post("病状説明: 予後について家族と面談予定", "physicians"), "k-dr")
    restricted = conn._store.audience_room("P7001", "physicians")
    assert restricted is not None and restricted != room
    state = {
        (e["type"], e["state_key"]): e["content"]
        for e in requests.get(f"{synapse.url}{C}/rooms/{_q(restricted)}/state", headers=bot.headers, timeout=10).json()
    }
    assert state[("m.room.join_rules", "")]["join_rule"] == "invite"
    assert state[("m.room.history_visibility", "")]["history_visibility"] == "invited"
    assert state[(PATIENT_STATE, "")] == {"patient_id": "P7001", "connector": "care", "audience": "physicians"}
    invited = {k[1] for k, v in state.items() if k[0] == "m.room.member" and v["membership"] == "invite"}
    assert invited == {doctor.user_id, linked.user_id}  # the physicians only, never the nurse

    # The physician joins and reads it; the nurse is not in the room, cannot join and cannot read it.
    assert _join(synapse, restricted, doctor).status_code == 200
    assert conn.read(restricted, doctor.user_id, access_token=doctor.access_token)[0]["id"] == receipt
    assert _join(synapse, restricted, nurse).status_code == 403
    assert _messages(synapse, restricted, nurse).status_code == 403
    with pytest.raises(MatrixForbiddenError):
        conn.read(restricted, nurse.user_id, access_token=nurse.access_token)
    assert "病状説明: 予後について家族と面談予定" not in _texts(_messages(synapse, room, nurse))
    assert "病状説明: 予後について家族と面談予定" not in _sync_texts(synapse, nurse)
    assert "病状説明: 予後について家族と面談予定" in _sync_texts(synapse, doctor)

    # A second post for the same audience goes to the same room; a replay posts nothing.
    conn.deliver(_post("追記: 面談は 5/3", "physicians"), "k-dr2")
    assert conn.deliver(_post("病状説明: 予後について家族と面談予定", "physicians"), "k-dr") == receipt
    assert len(conn.read(restricted)) == 2

    # A lost local map finds the main room again, never taking the restricted room for it.
    conn.close()
    for f in tmp_path.glob("matrix-care.sqlite*"):
        f.unlink()
    again = _connector(synapse, bot, tmp_path, monkeypatch, team, audits)
    assert again.ensure_group("P7001") == room
    assert again._store.audience_room("P7001", "physicians") == restricted

    # Removing the physician from the team kicks him from both rooms, even with the local map lost again.
    again.close()
    for f in tmp_path.glob("matrix-care.sqlite*"):
        f.unlink()
    again = _connector(synapse, bot, tmp_path, monkeypatch, team, audits)
    assert again.remove_member(room, doctor.user_id) is True
    for r in (room, restricted):
        m = requests.get(
            f"{synapse.url}{C}/rooms/{_q(r)}/state/m.room.member/{_q(doctor.user_id)}", headers=bot.headers, timeout=10
        ).json()
        assert m["membership"] == "leave"
    again.close()


def test_a_new_version_for_another_audience_replaces_the_post_where_it_was(
    synapse, matrix_user, tmp_path, monkeypatch
) -> None:
    bot, nurse, doctor = (matrix_user(n) for n in ("renkei-bot", "nurse", "doctor"))
    conn = _connector(
        synapse, bot, tmp_path, monkeypatch, [(nurse.user_id, "nurse"), (doctor.user_id, "physician")], []
    )
    room = conn.ensure_group("P7001")
    assert _join(synapse, room, nurse).status_code == 200
    first = TimelinePost(patient_id="P7001", text="病名: 高血圧症", record_key="PPR/1", source_version="20240501")
    conn.deliver(first.to_dict(), "v1")
    assert "病名: 高血圧症" in _texts(_messages(synapse, room, nurse))
    # the corrected version is for physicians only: the team's copy is redacted, the new one is not in her room
    second = TimelinePost(
        patient_id="P7001",
        text="病名: 悪性腫瘍疑い",
        record_key="PPR/1",
        source_version="20240502",
        audience="physicians",
    )
    conn.deliver(second.to_dict(), "v2")
    nurse_texts = _texts(_messages(synapse, room, nurse))
    assert "病名: 高血圧症" not in nurse_texts and "病名: 悪性腫瘍疑い" not in nurse_texts
    restricted = conn._store.audience_room("P7001", "physicians")
    assert [p["text"] for p in conn.read(restricted)] == ["病名: 悪性腫瘍疑い"]
    # and a retraction finds it in the restricted room
    gone = TimelinePost(patient_id="P7001", text="", record_key="PPR/1", retracts=True, source_version="20240503")
    conn.deliver(gone.to_dict(), "v3")
    assert conn.read(restricted) == []
    conn.close()

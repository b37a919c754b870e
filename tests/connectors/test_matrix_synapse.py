"""MatrixTimeline against a real Synapse (one server for the whole session, see conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from renkei.connectors.base import Attachment, ConnectorContext, TimelinePost
from renkei.connectors.matrix import (
    PATIENT_STATE,
    MatrixAuthError,
    MatrixForbiddenError,
    MatrixRequestError,
    MatrixTimeline,
)
from renkei.connectors.registry import connector_class
from renkei.errors import RetryableDeliveryError

pytestmark = pytest.mark.integration

C = "/_matrix/client/v3"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _q(s: str) -> str:
    return quote(s, safe="")


def _get(hs, path: str, user, **params: Any) -> requests.Response:
    return requests.get(hs.url + path, headers=user.headers, params=params, timeout=10)


def _connector(hs, bot, data_dir: Path, monkeypatch, members: list[str] = (), name: str = "care") -> MatrixTimeline:
    monkeypatch.setenv("RENKEI_TEST_MATRIX_TOKEN", bot.access_token)
    cls = connector_class("matrix")
    settings = cls.Settings(
        homeserver=hs.url, user_id=bot.user_id, token_env="RENKEI_TEST_MATRIX_TOKEN", members=list(members)
    )
    return cls(name, settings, ConnectorContext(data_dir=data_dir))


def _message_events(hs, room: str, user) -> list[dict[str, Any]]:
    resp = _get(hs, f"{C}/rooms/{_q(room)}/messages", user, dir="f", limit=1000)
    resp.raise_for_status()
    return [e for e in resp.json()["chunk"] if e["type"] == "m.room.message"]


def _join(hs, room: str, user) -> requests.Response:
    return requests.post(f"{hs.url}{C}/join/{_q(room)}", headers=user.headers, json={}, timeout=10)


def _lab_post(patient_id: str) -> TimelinePost:
    return TimelinePost(
        patient_id=patient_id,
        text="検査結果 2024-05-01\nHbA1c 7.2 % <高値> & 要フォロー",
        tags=["検査結果", "HbA1c"],
        links=[{"title": "検査結果の詳細", "url": "https://ehr.example.jp/results/123?a=1&b=2"}],
        attachments=[Attachment("検査結果.pdf", "application/pdf", PDF)],
        record_key="OUL-R22/123",
    )


def test_patient_room_posts_replays_and_access(synapse, matrix_user, tmp_path, monkeypatch) -> None:
    bot, nurse, doctor, outsider = (matrix_user(n) for n in ("renkei-bot", "nurse", "doctor", "outsider"))
    conn = _connector(synapse, bot, tmp_path, monkeypatch, members=[nurse.user_id])
    room = conn.ensure_group("P0001")
    assert conn.ensure_group("P0001") == room

    # Invite-only, private, tagged with the patient id and named by it.
    state = {
        (e["type"], e["state_key"]): e["content"] for e in _get(synapse, f"{C}/rooms/{_q(room)}/state", bot).json()
    }
    assert state[("m.room.join_rules", "")]["join_rule"] == "invite"
    assert state[("m.room.history_visibility", "")]["history_visibility"] == "shared"
    assert state[(PATIENT_STATE, "")]["patient_id"] == "P0001"
    assert state[("m.room.name", "")]["name"] == "P0001"
    assert ("m.room.encryption", "") not in state
    directory = _get(synapse, f"{C}/directory/list/room/{_q(room)}", bot).json()
    assert directory["visibility"] == "private"

    # Two members: one invited at creation (settings), one by invite(); both can join.
    conn.invite(room, doctor.user_id)
    conn.invite(room, doctor.user_id)  # idempotent: already invited
    for member in (nurse, doctor):
        assert _join(synapse, room, member).status_code == 200
    conn.invite(room, nurse.user_id)  # already joined: no error, no second invite
    # Someone never invited cannot join an invite-only room.
    refused = _join(synapse, room, outsider)
    assert refused.status_code == 403 and refused.json()["errcode"] == "M_FORBIDDEN"

    post = _lab_post("P0001")
    receipt = conn.deliver(post.to_dict(), "lab:P0001:123")
    assert receipt.startswith("$")
    assert len(_message_events(synapse, room, bot)) == 3  # text, link card, PDF

    # Replays: same connector, then a fresh one on the same data folder; nothing new is posted.
    assert conn.deliver(post.to_dict(), "lab:P0001:123") == receipt
    conn.close()
    again = _connector(synapse, bot, tmp_path, monkeypatch, members=[nurse.user_id])
    assert again.deliver(post.to_dict(), "lab:P0001:123") == receipt
    assert again.ensure_group("P0001") == room
    assert _get(synapse, f"{C}/joined_rooms", bot).json()["joined_rooms"] == [room]  # still one room
    events = _message_events(synapse, room, bot)
    assert len(events) == 3

    text, link, pdf = (e["content"] for e in events)
    assert text["msgtype"] == "m.text" and text["format"] == "org.matrix.custom.html"
    assert text["body"] == post.text + "\n\n#検査結果 #HbA1c"
    assert "&lt;高値&gt; &amp; 要フォロー" in text["formatted_body"]
    assert "<br>" in text["formatted_body"] and "<code>#検査結果</code>" in text["formatted_body"]
    assert "https://ehr.example.jp/results/123?a=1&b=2" in link["body"] and "検査結果の詳細" in link["body"]
    assert 'href="https://ehr.example.jp/results/123?a=1&amp;b=2"' in link["formatted_body"]
    assert pdf["msgtype"] == "m.file" and pdf["info"]["mimetype"] == "application/pdf"
    assert pdf["url"].startswith("mxc://")
    server, media_id = pdf["url"][len("mxc://") :].split("/")
    download = _get(synapse, f"/_matrix/client/v1/media/download/{server}/{media_id}", nurse)
    assert download.status_code == 200 and download.content == PDF

    # The nurse reads the post as she sees it; the outsider is refused.
    posts = again.read(room, nurse.user_id, access_token=nurse.access_token)
    assert len(posts) == 1
    assert posts[0]["id"] == receipt and posts[0]["text"] == post.text
    assert posts[0]["tags"] == ["検査結果", "HbA1c"] and posts[0]["author"] == bot.user_id
    assert posts[0]["links"] == post.links
    assert [(a["name"], a["media_type"], a["size"]) for a in posts[0]["attachments"]] == [
        ("検査結果.pdf", "application/pdf", len(PDF))
    ]
    with pytest.raises(MatrixForbiddenError) as refused_read:
        again.read(room, outsider.user_id, access_token=outsider.access_token)
    assert refused_read.value.__cause__.status == 403
    raw = _get(synapse, f"{C}/rooms/{_q(room)}/messages", outsider, dir="b")
    assert raw.status_code == 403 and raw.json()["errcode"] == "M_FORBIDDEN"
    again.close()


def test_lost_local_map_finds_the_tagged_room(synapse, matrix_user, tmp_path, monkeypatch) -> None:
    bot = matrix_user("renkei-bot")
    with _connector(synapse, bot, tmp_path / "a", monkeypatch) as first:
        room = first.ensure_group("P0002")
        other = first.ensure_group("P0003")
    assert room != other
    # A new data folder: the map is gone, the rooms' patient tags are not.
    with _connector(synapse, bot, tmp_path / "b", monkeypatch) as second:
        assert second.ensure_group("P0003") == other
        assert second.ensure_group("P0002") == room
    joined = _get(synapse, f"{C}/joined_rooms", bot).json()["joined_rooms"]
    assert sorted(joined) == sorted([room, other])


def test_update_replaces_and_retraction_withdraws(synapse, matrix_user, tmp_path, monkeypatch) -> None:
    bot = matrix_user("renkei-bot")
    with _connector(synapse, bot, tmp_path, monkeypatch) as conn:
        first = TimelinePost(patient_id="P0004", text="体温 37.8 ℃", record_key="OBS/1")
        conn.deliver(first.to_dict(), "obs:1:v1")
        room = conn.ensure_group("P0004")
        fixed = TimelinePost(patient_id="P0004", text="体温 36.8 ℃ (訂正)", record_key="OBS/1")
        fixed_receipt = conn.deliver(fixed.to_dict(), "obs:1:v2")
        assert [p["text"] for p in conn.read(room)] == ["体温 36.8 ℃ (訂正)"]
        assert conn.read(room)[0]["id"] == fixed_receipt
        retract = TimelinePost(patient_id="P0004", text="", record_key="OBS/1", retracts=True)
        conn.deliver(retract.to_dict(), "obs:1:del")
        conn.deliver(retract.to_dict(), "obs:1:del")
        assert conn.read(room) == []
        # Redacted events stay in the room's history as empty shells: 2 messages, 2 redactions.
        resp = _get(synapse, f"{C}/rooms/{_q(room)}/messages", bot, dir="f", limit=100).json()["chunk"]
        assert sum(e["type"] == "m.room.redaction" for e in resp) == 2


def test_server_refusals_are_typed(synapse, matrix_user, tmp_path, monkeypatch) -> None:
    bot = matrix_user("renkei-bot")
    with _connector(synapse, bot, tmp_path, monkeypatch) as conn:
        with pytest.raises(MatrixRequestError) as err:
            conn.invite("!nosuchroom:localhost", "@someone:localhost")
        assert 400 <= err.value.status < 500
    monkeypatch.setenv("RENKEI_TEST_MATRIX_TOKEN", "not-a-valid-token")
    cls = connector_class("matrix")
    s = cls.Settings(homeserver=synapse.url, user_id=bot.user_id, token_env="RENKEI_TEST_MATRIX_TOKEN")
    with cls("bad", s, ConnectorContext(data_dir=tmp_path / "bad")) as bad, pytest.raises(MatrixAuthError) as err:
        bad.deliver(TimelinePost(patient_id="P0005", text="x").to_dict(), "k")
    assert err.value.status == 401 and err.value.errcode == "M_UNKNOWN_TOKEN"
    assert isinstance(err.value, RetryableDeliveryError)  # the destination's failure: backs off, never DEAD


def test_unreachable_homeserver_is_retryable(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RENKEI_TEST_MATRIX_TOKEN", "t")
    s = MatrixTimeline.Settings(
        homeserver="http://127.0.0.1:9", user_id="@bot:localhost", token_env="RENKEI_TEST_MATRIX_TOKEN", attempts=1
    )
    with MatrixTimeline("down", s, ConnectorContext(data_dir=tmp_path)) as conn, pytest.raises(RetryableDeliveryError):
        conn.deliver(TimelinePost(patient_id="P0006", text="x").to_dict(), "k")


def test_two_workers_seeing_a_new_patient_make_one_room(synapse, matrix_user, tmp_path, monkeypatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    bot = matrix_user("renkei-bot")
    workers = [_connector(synapse, bot, tmp_path, monkeypatch, name="care") for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        rooms = set(pool.map(lambda w: w.ensure_group("P0007"), workers))
    for w in workers:
        w.close()
    assert len(rooms) == 1
    assert _get(synapse, f"{C}/joined_rooms", bot).json()["joined_rooms"] == list(rooms)

"""matrix-replies against a real Synapse: what /sync reads, the durable token, the gap fill, the refusal notice."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from renkei.connectors.base import ConnectorContext, TimelinePost
from renkei.connectors.matrix import MatrixTimeline
from renkei.connectors.matrix.sync_source import MatrixReplies
from renkei.connectors.timeline_reply import InboundReply
from renkei.mappings.vital_text import VitalTextError

pytestmark = pytest.mark.integration
C = "/_matrix/client/v3"
TOKEN_ENV = "RENKEI_TEST_SYNC_TOKEN"


class Recorder:
    """An `ingest` that keeps what it was given, keyed like the engine's ledger (duplicates flagged)."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.raw: dict[str, bytes] = {}

    def __call__(self, items):
        out = []
        for item, raw in items:
            out.append((len(self.keys) + 1, item.key in self.raw))
            self.keys.append(item.key)
            self.raw[item.key] = raw
        return out


def _send(hs, room: str, user, text: str, txn: str) -> str:
    resp = requests.put(f"{hs.url}{C}/rooms/{quote(room, safe='')}/send/m.room.message/{txn}",
                        headers=user.headers, json={"msgtype": "m.text", "body": text}, timeout=10)  # fmt: skip
    assert resp.status_code == 200, resp.text
    return resp.json()["event_id"]


@pytest.fixture
def room_setup(synapse, matrix_user, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bot, nurse = matrix_user("renkei-bot"), matrix_user("nurse")
    monkeypatch.setenv(TOKEN_ENV, bot.access_token)
    data = tmp_path / "data"
    data.mkdir()
    timeline = MatrixTimeline(
        "care", MatrixTimeline.Settings(homeserver=synapse.url, user_id=bot.user_id, token_env=TOKEN_ENV,
                                        members=[nurse.user_id]), ConnectorContext(data_dir=data),
    )  # fmt: skip
    room = timeline.ensure_group("P0100")
    assert requests.post(f"{synapse.url}{C}/join/{quote(room, safe='')}", headers=nurse.headers, json={},
                         timeout=10).status_code == 200  # fmt: skip

    def replies() -> MatrixReplies:
        settings = MatrixReplies.Settings(homeserver=synapse.url, user_id=bot.user_id, token_env=TOKEN_ENV,
                                          timeline="care", poll_seconds=0)  # fmt: skip
        return MatrixReplies("care-replies", settings, ConnectorContext(data_dir=data))

    yield timeline, room, nurse, bot, replies
    timeline.close()


def test_sync_reads_members_replies_once_and_a_restart_neither_loses_nor_repeats(synapse, room_setup) -> None:
    timeline, room, nurse, _bot, replies = room_setup
    timeline.post(room, TimelinePost(patient_id="P0100", text="検査結果が届きました"), "fwd-1")  # the bot's own
    first = _send(synapse, room, nurse, "承知しました", "r1")
    got = Recorder()
    source = replies()
    assert source.sync_once(got) == 1
    assert got.keys == [f"matrix/{first}"]
    reply = InboundReply.from_raw(got.raw[got.keys[0]], "k")
    assert (reply.patient_id, reply.author, reply.text) == ("P0100", nurse.user_id, "承知しました")
    assert source.sync_once(got) == 0  # nothing new
    source.close()

    # A crash after the store took the batch but before the token was written: the restart reads the same
    # event again, which the ledger answers as a duplicate; the token then moves on and nothing repeats.
    second = _send(synapse, room, nurse, "BT 37.2", "r2")
    crashing = replies()
    crashing.save_token = _raise  # type: ignore[method-assign]
    with pytest.raises(OSError):
        crashing.sync_once(got)
    crashing.close()
    restarted = replies()
    assert restarted.sync_once(got) == 1
    assert got.keys[1:] == [f"matrix/{second}", f"matrix/{second}"]  # the second one a duplicate
    assert restarted.sync_once(got) == 0
    restarted.close()


def test_a_gap_longer_than_one_sync_is_filled_back_to_the_last_token(synapse, room_setup) -> None:
    _timeline, room, nurse, _bot, replies = room_setup
    got = Recorder()
    source = replies()
    source.sync_once(got)  # the token now stands here
    sent = [_send(synapse, room, nurse, f"記録 {i}", f"gap{i}") for i in range(130)]  # > the filter's 100
    assert source.sync_once(got) == 130
    assert got.keys == [f"matrix/{e}" for e in sent]  # all of them, in order, none twice
    source.close()


def test_an_unreadable_vitals_reply_is_refused_and_answered_in_the_room(synapse, room_setup) -> None:
    _timeline, room, nurse, _bot, replies = room_setup
    event = _send(synapse, room, nurse, "BT 36.8 BP 120", "bad1")
    got = Recorder()
    source = replies()
    source.sync_once(got)
    for _ in range(2):  # parsed twice (a reprocess): told once
        with pytest.raises(VitalTextError, match="BP needs 2"):
            source.parse(got.keys[0], got.raw[got.keys[0]])
    source.close()
    url = f"{synapse.url}{C}/rooms/{quote(room, safe='')}/messages"
    msgs = requests.get(url, params={"dir": "b", "limit": 20}, headers=nurse.headers, timeout=10).json()["chunk"]
    notices = [m for m in msgs if m["type"] == "m.room.message" and m["content"].get("msgtype") == "m.notice"]
    assert len(notices) == 1
    assert "バイタルを受け付けられませんでした" in notices[0]["content"]["body"]
    assert notices[0]["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == event


def _raise(token: str) -> None:
    raise OSError("disk full")

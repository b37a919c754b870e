"""MatrixTimeline without a server: settings, error mapping at the HTTP boundary, rendering."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
import responses

from renkei.connectors.base import Attachment, ConnectorContext, TimelinePost
from renkei.connectors.matrix import MatrixAuthError, MatrixRequestError, MatrixTimeline, _render, txn_id
from renkei.errors import ConfigError, PermanentDeliveryError, RetryableDeliveryError

HS = "https://matrix.example.jp"
TOKEN = "syt_secret_token_value"
SEND = re.compile(re.escape(HS) + r"/_matrix/client/v3/rooms/.+/send/m\.room\.message/.+")
ROOM = "!room:example.jp"


def _conn(tmp_path: Path, monkeypatch, **over) -> MatrixTimeline:
    monkeypatch.setenv("RENKEI_TEST_MX", TOKEN)
    s = MatrixTimeline.Settings(
        homeserver=HS, user_id="@renkei:example.jp", token_env="RENKEI_TEST_MX", max_inline_wait=0.05, **over
    )
    return MatrixTimeline("mx", s, ConnectorContext(data_dir=tmp_path))


def test_settings_want_a_secret_reference_and_no_encryption(tmp_path) -> None:
    S = MatrixTimeline.Settings
    base = {"homeserver": HS, "user_id": "@renkei:example.jp"}
    with pytest.raises(ValueError, match="exactly one"):
        S(**base)
    with pytest.raises(ValueError, match="extra"):
        S(**base, token_env="X", access_token=TOKEN)
    with pytest.raises(ValueError, match="not supported"):
        S(**base, token_env="X", encryption=True)
    with pytest.raises(ValueError, match="patient_id"):
        S(**base, token_env="X", room_name_template="{patient_name}")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with MatrixTimeline("mx", S(**base, token_file=token_file), ConnectorContext(tmp_path)) as conn:
        assert TOKEN not in repr(conn) and TOKEN not in repr(conn._http)
        assert conn._http.session.headers["Authorization"] == f"Bearer {TOKEN}"
    with pytest.raises(ConfigError, match="token_file"):
        MatrixTimeline("mx", S(**base, token_file=tmp_path / "missing"), ConnectorContext(tmp_path))


@responses.activate
def test_short_rate_limit_is_waited_out_in_the_call(tmp_path, monkeypatch) -> None:
    responses.put(SEND, status=429, json={"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 20})
    responses.put(SEND, json={"event_id": "$e1"})
    with _conn(tmp_path, monkeypatch) as conn:
        assert conn.post(ROOM, TimelinePost("P1", "x"), "k1") == "$e1"
    assert len(responses.calls) == 2
    # Both tries used the same transaction id, so the server could dedupe them.
    assert responses.calls[0].request.url == responses.calls[1].request.url
    assert responses.calls[0].request.url.endswith("/" + txn_id("k1", "0:text"))


@responses.activate
def test_long_rate_limit_is_handed_to_the_engine(tmp_path, monkeypatch) -> None:
    responses.put(SEND, status=429, json={"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 60_000})
    with _conn(tmp_path, monkeypatch) as conn, pytest.raises(RetryableDeliveryError) as err:
        conn.post(ROOM, TimelinePost("P1", "x"), "k1")
    assert err.value.retry_after == 60.0
    assert isinstance(err.value.__cause__, requests.HTTPError)
    assert len(responses.calls) == 1


@responses.activate
def test_shared_policy_retries_408_and_keeps_retry_after_header(tmp_path, monkeypatch) -> None:
    # connectors/http_errors.py: 408 retries like 429/5xx; a Retry-After header travels as retry_after.
    responses.put(SEND, status=408)
    responses.put(SEND, status=503, headers={"Retry-After": "120"})
    with _conn(tmp_path, monkeypatch, attempts=3) as conn, pytest.raises(RetryableDeliveryError, match="503") as err:
        conn.post(ROOM, TimelinePost("P1", "x"), "k1")
    assert err.value.retry_after == 120.0
    assert len(responses.calls) == 2  # a 120 s wait is not taken inside the call


def test_empty_token_is_refused_naming_the_setting(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RENKEI_TEST_MX_EMPTY", "  ")
    s = MatrixTimeline.Settings(homeserver=HS, user_id="@renkei:example.jp", token_env="RENKEI_TEST_MX_EMPTY")
    with pytest.raises(ConfigError, match="token_env: environment variable RENKEI_TEST_MX_EMPTY is empty"):
        MatrixTimeline("mx", s, ConnectorContext(data_dir=tmp_path))


@responses.activate
def test_server_errors_and_timeouts_are_retryable(tmp_path, monkeypatch) -> None:
    responses.put(SEND, status=502)
    responses.put(SEND, body=requests.ConnectTimeout("slow"))
    responses.put(SEND, status=500)
    with _conn(tmp_path, monkeypatch, attempts=3) as conn, pytest.raises(RetryableDeliveryError, match="500"):
        conn.post(ROOM, TimelinePost("P1", "x"), "k1")
    assert len(responses.calls) == 3


@responses.activate
def test_other_client_errors_are_permanent_with_the_errcode(tmp_path, monkeypatch) -> None:
    responses.put(SEND, status=403, json={"errcode": "M_FORBIDDEN", "error": "not in room"})
    with _conn(tmp_path, monkeypatch) as conn, pytest.raises(MatrixRequestError) as err:
        conn.post(ROOM, TimelinePost("P1", "x"), "k1")
    assert isinstance(err.value, PermanentDeliveryError)
    assert (err.value.status, err.value.errcode) == (403, "M_FORBIDDEN")
    assert TOKEN not in str(err.value)
    assert len(responses.calls) == 1


@responses.activate
def test_a_refused_token_is_the_destinations_failure_and_not_retried_in_the_call(tmp_path, monkeypatch) -> None:
    responses.put(SEND, status=401, json={"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid access token passed."})
    with _conn(tmp_path, monkeypatch) as conn, pytest.raises(MatrixAuthError) as err:
        conn.post(ROOM, TimelinePost("P1", "x"), "k1")
    assert isinstance(err.value, RetryableDeliveryError)  # the engine backs off; no delivery goes DEAD for it
    assert (err.value.status, err.value.errcode) == (401, "M_UNKNOWN_TOKEN")
    assert TOKEN not in str(err.value)
    assert len(responses.calls) == 1


@responses.activate
def test_create_room_is_not_repeated_after_a_timeout(tmp_path, monkeypatch) -> None:
    responses.get(HS + "/_matrix/client/v3/joined_rooms", json={"joined_rooms": []})
    responses.post(HS + "/_matrix/client/v3/createRoom", body=requests.ReadTimeout("lost reply"))
    with _conn(tmp_path, monkeypatch) as conn, pytest.raises(RetryableDeliveryError):
        conn.ensure_group("P1")
    assert [c.request.method for c in responses.calls] == ["GET", "POST"]


@responses.activate
def test_half_sent_post_resumes_without_resending(tmp_path, monkeypatch) -> None:
    responses.put(SEND, json={"event_id": "$text"})
    responses.put(SEND, status=503)
    post = TimelinePost("P1", "x", links=[{"title": "t", "url": "https://example.jp/"}])
    with _conn(tmp_path, monkeypatch, attempts=1) as conn:
        with pytest.raises(RetryableDeliveryError):
            conn.post(ROOM, post, "k1")
        responses.replace(responses.PUT, SEND, json={"event_id": "$link"})
        assert conn.post(ROOM, post, "k1") == "$text"
    sent = [c.request.url.rsplit("/", 1)[1] for c in responses.calls]
    assert sent == [txn_id("k1", "0:text"), txn_id("k1", "1:link:000"), txn_id("k1", "1:link:000")]


def test_rendering_escapes_html_and_refuses_script_links() -> None:
    post = TimelinePost("P1", 'a<b>&"c"\n次の行', tags=["<x>"], attachments=[Attachment("写真.png", "image/png", b"1")])
    content = _render.text_content(post, "pid")
    assert content["body"] == 'a<b>&"c"\n次の行\n\n#<x>'
    assert content["formatted_body"] == "a&lt;b&gt;&amp;&quot;c&quot;<br>次の行<br><br><code>#&lt;x&gt;</code>"
    assert _render.file_content(post, "pid", 0, post.attachments[0], "mxc://hs/abc")["msgtype"] == "m.image"
    with pytest.raises(PermanentDeliveryError, match="http"):
        _render.link_content(post, "pid", 0, {"title": "t", "url": "javascript:alert(1)"})


def test_folding_events_rebuilds_posts_and_skips_redactions() -> None:
    post = TimelinePost("P1", "本文", tags=["t"], links=[{"title": "L", "url": "https://e.jp/"}], record_key="R1")
    events = [
        {"type": "m.room.message", "event_id": "$1", "sender": "@b:hs", "origin_server_ts": 1000,
         "content": _render.text_content(post, "p1")},
        {"type": "m.room.member", "event_id": "$m", "content": {"membership": "join"}},
        {"type": "m.room.message", "event_id": "$2", "sender": "@b:hs", "origin_server_ts": 1001,
         "content": _render.link_content(post, "p1", 0, post.links[0])},
        {"type": "m.room.message", "event_id": "$3", "sender": "@n:hs", "origin_server_ts": 1002,
         "content": {"msgtype": "m.text", "body": "了解です"}},
        {"type": "m.room.message", "event_id": "$4", "sender": "@b:hs", "content": {},
         "unsigned": {"redacted_because": {}}},
    ]  # fmt: skip
    posts = _render.fold_events(events)
    assert [(p["id"], p["text"], p["author"]) for p in posts] == [("$1", "本文", "@b:hs"), ("$3", "了解です", "@n:hs")]
    assert posts[0]["links"] == [{"title": "L", "url": "https://e.jp/"}]
    assert posts[0]["tags"] == ["t"] and posts[0]["record_key"] == "R1" and posts[0]["created_at"] == 1.0


def test_public_names_are_pinned() -> None:
    import renkei.connectors.matrix as facade

    assert set(facade.__all__) == {
        "PATIENT_STATE",
        "MatrixAuthError",
        "MatrixForbiddenError",
        "MatrixRequestError",
        "MatrixSettings",
        "MatrixTimeline",
        "txn_id",
    }

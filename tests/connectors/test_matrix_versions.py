"""Matrix timeline: replace by source version (issue 10 item 5). An older version arriving late sends
nothing and never redacts the newer post; a newer one replaces (redacts) the current post."""

from __future__ import annotations

import re
from pathlib import Path

import responses

from renkei.connectors.base import ConnectorContext, TimelinePost
from renkei.connectors.matrix import MatrixTimeline

HS = "https://matrix.example.jp"
SEND = re.compile(re.escape(HS) + r"/_matrix/client/v3/rooms/.+/send/m\.room\.message/.+")
REDACT = re.compile(re.escape(HS) + r"/_matrix/client/v3/rooms/.+/redact/.+")
ROOM = "!room:example.jp"


def _conn(tmp_path: Path, monkeypatch) -> MatrixTimeline:
    monkeypatch.setenv("RENKEI_TEST_MX", "syt_token")
    s = MatrixTimeline.Settings(homeserver=HS, user_id="@renkei:example.jp", token_env="RENKEI_TEST_MX")
    return MatrixTimeline("mx", s, ConnectorContext(data_dir=tmp_path))


def _post(text: str, version: str) -> TimelinePost:
    return TimelinePost("P1", text, record_key="P1/OML-11/123456789012345/3B035", source_version=version)


@responses.activate
def test_older_version_never_replaces_the_newer_post(tmp_path, monkeypatch) -> None:
    responses.put(SEND, json={"event_id": "$v2"})
    responses.put(SEND, json={"event_id": "$v3"})
    responses.put(REDACT, json={"event_id": "$r1"})
    with _conn(tmp_path, monkeypatch) as conn:
        assert conn.post(ROOM, _post("AST 99.9", "20240402020000.000000Z"), "k2") == "$v2"
        # the original (older) arrives late: nothing is sent, nothing redacted
        assert conn.post(ROOM, _post("AST 11.1", "20240402010000.000000Z"), "k1") == "$v2"
        assert len(responses.calls) == 1
        # the re-correction (newer) replaces the current post
        assert conn.post(ROOM, _post("AST 11.1", "20240402030000.000000Z"), "k3") == "$v3"
    sent = [c.request.url for c in responses.calls]
    assert len(sent) == 3 and "/redact/%24v2/" in sent[2]

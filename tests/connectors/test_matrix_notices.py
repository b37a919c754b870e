"""Digest notices on a real Synapse: an m.notice in the bot's direct room with the person, the room
reused (found through the bot's m.direct account data even by a fresh connector), each notice once."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from renkei.connectors.base import ConnectorContext
from renkei.connectors.registry import connector_class

pytestmark = pytest.mark.integration

C = "/_matrix/client/v3"


def _connector(hs, bot, data_dir: Path, monkeypatch):
    monkeypatch.setenv("RENKEI_TEST_MATRIX_TOKEN", bot.access_token)
    cls = connector_class("matrix")
    settings = cls.Settings(homeserver=hs.url, user_id=bot.user_id, token_env="RENKEI_TEST_MATRIX_TOKEN")
    return cls("care", settings, ConnectorContext(data_dir=data_dir))


def _invited_rooms(hs, user) -> list[str]:
    resp = requests.get(f"{hs.url}{C}/sync", headers=user.headers, params={"timeout": 0}, timeout=10)
    resp.raise_for_status()
    return sorted(resp.json().get("rooms", {}).get("invite", {}))


def _notices(hs, room: str, user) -> list[dict[str, Any]]:
    resp = requests.get(
        f"{hs.url}{C}/rooms/{quote(room, safe='')}/messages", headers=user.headers,
        params={"dir": "f", "limit": 100}, timeout=10,
    )  # fmt: skip
    resp.raise_for_status()
    return [e["content"] for e in resp.json()["chunk"] if e["type"] == "m.room.message"]


def test_a_notice_reaches_the_person_in_one_direct_room_once(synapse, matrix_user, tmp_path, monkeypatch) -> None:
    bot, nurse, outsider = (matrix_user(n) for n in ("digest-bot", "digest-nurse", "digest-outsider"))
    conn = _connector(synapse, bot, tmp_path / "a", monkeypatch)
    conn.notify(nurse.user_id, "[renkei] 未読 2 件・承認待ち 0 件", "digest:nurse.sato:2026-12-02:matrix")
    (room,) = _invited_rooms(synapse, nurse)
    assert _invited_rooms(synapse, outsider) == []
    join = requests.post(f"{synapse.url}{C}/join/{quote(room, safe='')}", headers=nurse.headers, json={}, timeout=10)
    assert join.status_code == 200

    # Sent again under the same key (a rerun after a crash): no second notice.
    conn.notify(nurse.user_id, "[renkei] 未読 2 件・承認待ち 0 件", "digest:nurse.sato:2026-12-02:matrix")
    # The next day, from a fresh connector with an empty data folder: the same direct room (m.direct).
    conn.close()
    fresh = _connector(synapse, bot, tmp_path / "b", monkeypatch)
    fresh.notify(nurse.user_id, "[renkei] 未読 5 件・承認待ち 0 件", "digest:nurse.sato:2026-12-03:matrix")
    fresh.close()

    assert _notices(synapse, room, nurse) == [
        {"msgtype": "m.notice", "body": "[renkei] 未読 2 件・承認待ち 0 件"},
        {"msgtype": "m.notice", "body": "[renkei] 未読 5 件・承認待ち 0 件"},
    ]
    outsider_read = requests.get(
        f"{synapse.url}{C}/rooms/{quote(room, safe='')}/messages", headers=outsider.headers, timeout=10
    )
    assert outsider_read.status_code == 403


def test_the_days_digest_goes_as_a_notice_once(synapse, matrix_user, tmp_path, monkeypatch) -> None:
    from renkei.config.loader import load_config
    from renkei.connectors.ssmix2.generator import generate
    from renkei.pipelines.digests import send_digests, set_contact
    from renkei.pipelines.engine import Engine
    from renkei.pipelines.people import People
    from renkei.pipelines.store import Store

    bot, nurse = matrix_user("digest-bot2"), matrix_user("digest-nurse2")
    monkeypatch.setenv("RENKEI_TEST_MATRIX_TOKEN", bot.access_token)
    generate(tmp_path / "storage", patients=2, labs_per_patient=1, seed=7)
    cfg = tmp_path / "renkei.yaml"
    cfg.write_text(
        f"""
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{tmp_path / 'storage'}"}}
  timeline: {{type: builtin, members: [nurse.sato]}}
  care-matrix: {{type: matrix, homeserver: "{synapse.url}", user_id: "{bot.user_id}",
                 token_env: RENKEI_TEST_MATRIX_TOKEN}}
pipelines:
  - {{name: sync, source: ehr, destinations: [timeline], gates: {{consent: false}}}}
notifications:
  console_url: https://renkei.clinic.example.jp/
  matrix: {{connector: care-matrix}}
""",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    engine = Engine(load_config(cfg), Store.in_data_dir(data), data)
    try:
        engine.run_pipeline(engine.pipeline("sync"))
        People(engine.store).add("nurse.sato", ["nurse"], "a long test password", "看護師 佐藤")
        set_contact(engine.store, "nurse.sato", matrix_id=nurse.user_id)
        first, _ = send_digests(engine)
        second, _ = send_digests(engine)
    finally:
        engine.close()
        engine.store.close()
    assert first.sent == [("nurse.sato", "matrix")] and second.sent == []
    (room,) = _invited_rooms(synapse, nurse)
    requests.post(f"{synapse.url}{C}/join/{quote(room, safe='')}", headers=nurse.headers, json={}, timeout=10)
    (notice,) = _notices(synapse, room, nurse)
    assert notice["msgtype"] == "m.notice"
    assert notice["body"].startswith("[renkei] 未読 4 件・承認待ち 0 件\n\n看護師 佐藤 さん\n")
    assert "https://renkei.clinic.example.jp/" in notice["body"]

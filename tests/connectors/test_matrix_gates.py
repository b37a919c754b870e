"""Consent and approval gates, seen from the Matrix side: what a real Synapse holds after an engine run.

A real Engine and Store read a generated SS-MIX2 storage (two patients, two lab results each) and post to a
`matrix` timeline on the session's Synapse, with the approval gate on for high sensitivity (lab results).
Only the first patient has consent. Every assertion about what was posted reads Synapse itself (the bot's
joined rooms, the rooms the bot created per the admin API, each room's `m.room.message` events), not the
engine's own state, which is only used to find which message is which.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from support.synapse import ssmix2_to_matrix

from renkei.config.loader import load_config
from renkei.connectors.matrix import PATIENT_STATE
from renkei.connectors.ssmix2.generator import generate
from renkei.pipelines.engine import Engine
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import DeliveryState, MessageState
from renkei.pipelines.store import Store

pytestmark = pytest.mark.integration

C = "/_matrix/client/v3"
MARKER = "jp.renkei.post"  # connectors/matrix/_render.py: every event carries its post's id and record key
TOKEN_ENV = "RENKEI_TEST_MATRIX_GATES_TOKEN"


def _get(hs, path: str, user, **params: Any) -> dict[str, Any]:
    resp = requests.get(hs.url + path, headers=user.headers, params=params, timeout=10)
    resp.raise_for_status()
    return resp.json()


def _rooms(hs, bot) -> list[str]:
    """Every room the bot is joined to, and (admin API) every room on the server it created: no room
    for a patient can hide from either list."""
    joined = _get(hs, f"{C}/joined_rooms", bot)["joined_rooms"]
    created, offset = [], 0
    while True:
        page = _get(hs, "/_synapse/admin/v1/rooms", bot, **{"from": offset, "limit": 100})
        created += [r["room_id"] for r in page["rooms"] if r.get("creator") == bot.user_id]
        if "next_batch" not in page:
            break
        offset = page["next_batch"]
    assert sorted(created) == sorted(joined)
    return joined


def _patient_of(hs, bot, room: str) -> str:
    return _get(hs, f"{C}/rooms/{quote(room, safe='')}/state/{PATIENT_STATE}/", bot)["patient_id"]


def _messages(hs, bot, room: str) -> list[dict[str, Any]]:
    chunk = _get(hs, f"{C}/rooms/{quote(room, safe='')}/messages", bot, dir="f", limit=1000)["chunk"]
    return [e for e in chunk if e["type"] == "m.room.message"]


def _all_messages(hs, bot) -> list[dict[str, Any]]:
    return [e for room in _rooms(hs, bot) for e in _messages(hs, bot, room)]


def _posted(events: list[dict[str, Any]], payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of one engine payload: its record key in the renkei marker, its text as the body."""
    return [
        e
        for e in events
        if e["content"].get(MARKER, {}).get("record_key") == payload["record_key"]
        and e["content"]["body"] == payload["text"]
    ]


def test_consent_and_approval_gates_as_synapse_sees_them(synapse, matrix_user, tmp_path: Path, monkeypatch) -> None:
    bot = matrix_user("renkei-gates-bot", admin=True)  # admin only so the test can list the server's rooms
    monkeypatch.setenv(TOKEN_ENV, bot.access_token)
    storage, data, cfg = ssmix2_to_matrix(
        tmp_path, synapse, bot, TOKEN_ENV,
        rest="""
        pipelines:
          - name: ehr-to-care
            source: ehr
            destinations: [care]
            trigger: {interval_seconds: 60}
            gates: {approval: {required_for: [high]}}
        """,
    )  # fmt: skip
    written = generate(storage, patients=2, labs_per_patient=2, seed=11)
    consented, refused = sorted({r.patient_id for w in written for r in w.records})
    store = Store.in_data_dir(data)
    PatientRegistry(store).set_consent(consented, True, ["timeline"], date(2026, 4, 1))
    engine = Engine(load_config(cfg), store, data)
    try:
        stats = engine.run_pipeline(engine.pipeline("ehr-to-care"))
        assert (stats.received, stats.quarantined) == (6, 0)

        def message(pid: str, data_type: str) -> list[tuple[int, dict[str, Any]]]:
            rows = [m for m in store.list_messages(patient_id=pid) if m.data_type == data_type]
            out = []
            for m in rows:
                _msg, (delivery,) = store.get_message(m.id)
                out.append((m.id, delivery.payload))
            return sorted(out)

        (basics_ok,) = message(consented, "ADT-00")
        (basics_refused,) = message(refused, "ADT-00")
        lab_approved, lab_rejected = message(consented, "OML-11")
        refused_labs = message(refused, "OML-11")
        assert len(refused_labs) == 2
        held = {m.id for m in store.list_messages(state=MessageState.AWAITING_APPROVAL)}
        assert held == {lab_approved[0], lab_rejected[0]} | {mid for mid, _ in refused_labs}

        # Synapse: one room, the consented patient's, holding only the patient-basics post.
        (room,) = _rooms(synapse, bot)
        assert _patient_of(synapse, bot, room) == consented
        events = _messages(synapse, bot, room)
        assert len(_posted(events, basics_ok[1])) == 1
        assert "【患者基本情報】" in basics_ok[1]["text"]
        assert len(events) == 1  # no lab result yet: both wait for a physician
        _msg, (dead,) = store.get_message(basics_refused[0])
        assert dead.state == DeliveryState.DEAD and "no consent" in dead.last_error

        # A physician approves one lab result and rejects the other; the engine delivers what is due.
        assert store.decide_approval(lab_approved[0], True, "確認済み") == MessageState.QUEUED
        assert store.decide_approval(lab_rejected[0], False, "再検査待ち") == MessageState.FILTERED
        engine.deliver_due()
        events = _messages(synapse, bot, room)
        (lab_event,) = _posted(events, lab_approved[1])
        assert lab_event["content"]["body"].startswith("【検査結果】")
        assert lab_event["sender"] == bot.user_id
        assert _posted(events, lab_rejected[1]) == []
        assert len(events) == 2

        # Approving the patient without consent releases nothing: the consent gate still refuses.
        for mid, _payload in refused_labs:
            store.decide_approval(mid, True, "")
        engine.deliver_due()
        for mid, _payload in refused_labs:
            _msg, (d,) = store.get_message(mid)
            assert d.state == DeliveryState.DEAD and "no consent" in d.last_error

        # Replays change nothing on Synapse: another delivery round, another scan of the same storage.
        engine.deliver_due()
        again = engine.run_pipeline(engine.pipeline("ehr-to-care"))
        assert (again.received, again.unchanged) == (0, 6)
        assert _rooms(synapse, bot) == [room]
        everywhere = _all_messages(synapse, bot)
        assert len(_posted(everywhere, lab_approved[1])) == 1
        assert _posted(everywhere, lab_rejected[1]) == []
        for _mid, payload in [basics_refused, *refused_labs]:
            assert _posted(everywhere, payload) == []
        assert sorted(e["event_id"] for e in everywhere) == sorted(e["event_id"] for e in events)
    finally:
        engine.close()
        store.close()

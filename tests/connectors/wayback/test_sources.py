"""The way-back sources on a real Engine and store: built-in timeline replies and the signed inbound webhook.

Deliveries go to a stand-in EHR on a real socket (support/mllp_ehr.py) through the mllp-sender, so each test
sees what the EHR got, what the store kept, and what the nurse was told.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from support.mllp_ehr import MllpEhr

from renkei.config.loader import load_config
from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.connectors.builtin_timeline_source import post_reply
from renkei.connectors.hl7v2 import split
from renkei.connectors.webhook_inbound import signature
from renkei.errors import RefusedError
from renkei.pipelines.engine import Engine
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import audit_log, deliveries, messages
from renkei.pipelines.store import Store

SECRET = "s3cret-shared-with-the-sns"
CONFIG = """\
version: 1
connectors:
  timeline: {{type: builtin, members: [nurse.sato]}}
  replies: {{type: builtin-replies}}
  sns: {{type: webhook-inbound, host: 127.0.0.1, port: 0, secret_env: RENKEI_TEST_INBOUND, origin: sns}}
  ehr: {{type: mllp-sender, host: 127.0.0.1, port: {port}, ack_timeout: 2, attempts: 1}}
pipelines:
  - {{name: builtin-back, source: replies, destinations: [ehr]}}
  - {{name: sns-back, source: sns, destinations: [ehr], trigger: {{event: true}}}}
"""


@pytest.fixture
def ehr() -> Iterator[MllpEhr]:
    server = MllpEhr()
    yield server
    server.close()


@pytest.fixture
def engine(tmp_path: Path, ehr: MllpEhr, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("RENKEI_TEST_INBOUND", SECRET)
    cfg = tmp_path / "renkei.yaml"
    cfg.write_text(CONFIG.format(port=ehr.port), encoding="utf-8")
    data = tmp_path / "data"
    eng = Engine(load_config(cfg), Store.in_data_dir(data), data)
    PatientRegistry(eng.store).set_consent("P0042", True, ["all"], date(2024, 4, 1), actor="test")
    yield eng
    eng.close()
    eng.store.close()


def _rows(engine: Engine, pipeline: str) -> list[tuple[str, str, str, str]]:
    with engine.store.read() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(messages.c.source_key, messages.c.state, messages.c.data_type, messages.c.reason)
            .where(messages.c.pipeline == pipeline).order_by(messages.c.id)
        )]  # fmt: skip


# -- built-in timeline ----------------------------------------------------------------------------------
def test_builtin_replies_flow_once_and_the_system_posts_never_flow_back(engine: Engine, ehr: MllpEhr) -> None:
    timeline: BuiltinTimeline = engine.connector("timeline")
    gid = timeline.ensure_group("P0042")
    engine.push("timeline", _forward_post())  # the system's own (level 3) post: never read back
    post_reply(timeline, "P0042", "nurse.sato", "本日は落ち着いています。")
    post_reply(timeline, "P0042", "nurse.sato", "BT 36.8 P 72")
    with pytest.raises(RefusedError, match="not a member"):
        post_reply(timeline, "P0042", "dr.stranger", "BT 39.0")
    p = engine.pipeline("builtin-back")

    first = engine.run_pipeline(p)
    again = engine.run_pipeline(p)  # nothing new: the ledger knows both replies
    assert (first.received, first.sent, again.received, again.unchanged) == (2, 2, 0, 2)
    assert [(k, s, t) for k, s, t, _ in _rows(engine, "builtin-back")] == [
        ("builtin/2", "SENT", "REPLY"), ("builtin/3", "SENT", "VITALS"),
    ]  # fmt: skip
    types = sorted(split(raw.decode(), "t").c(split(raw.decode(), "t").first("MSH"), 9) for raw in ehr.stored.values())
    assert types == ["MDM", "ORU"]
    assert len(timeline.read(gid)) == 3  # forward post + two replies; no refusal notice
    with engine.store.read() as conn:
        actions = [a for (a,) in conn.execute(sa.select(audit_log.c.action).where(audit_log.c.patient_id == "P0042"))]
    assert actions.count("timeline.reply.read") == 2


def test_an_unreadable_vitals_post_is_quarantined_and_the_nurse_told_in_the_group(engine: Engine, ehr) -> None:
    timeline: BuiltinTimeline = engine.connector("timeline")
    gid = timeline.ensure_group("P0042")
    post_reply(timeline, "P0042", "nurse.sato", "BT 36,8 BP 120/80")
    engine.run_pipeline(engine.pipeline("builtin-back"))
    engine.run_pipeline(engine.pipeline("builtin-back"))
    ((key, state, _type, reason),) = _rows(engine, "builtin-back")
    assert (key, state) == ("builtin/1", "QUARANTINED") and "has no value" in reason and "36" not in reason
    assert not ehr.received  # nothing guessed, nothing sent
    notices = [p for p in timeline.read(gid) if p["author"] == "renkei"]
    assert len(notices) == 1  # told once, even when parsed again
    assert "バイタルを受け付けられませんでした" in notices[0]["text"] and "BT 36.8 BP 120/80" in notices[0]["text"]


def _forward_post():
    from renkei.connectors.base import TimelinePost

    return TimelinePost(patient_id="P0042", text="検査結果が届きました", author="clerk.ito")


# -- inbound webhook -----------------------------------------------------------------------------------
@pytest.fixture
def inbound(engine: Engine) -> Iterator[tuple[Engine, str]]:
    source = engine.connector("sns")
    source.start(lambda items: engine.ingest("sns-back", items))
    yield engine, f"http://127.0.0.1:{source.port}/"
    source.stop()


def _post(url: str, body: dict, *, secret: str = SECRET, stamp: int | None = None, tamper: bool = False):
    raw = json.dumps(body, ensure_ascii=False).encode()
    ts = str(int(time.time()) if stamp is None else stamp)
    sig = signature(secret.encode(), ts, raw)
    if tamper:
        raw = raw.replace(b"72", b"62")
    headers = {"X-Renkei-Timestamp": ts, "X-Renkei-Signature": sig, "Content-Type": "application/json"}
    return requests.post(url, data=raw, headers=headers, timeout=10)


REPLY = {"id": "sns-881", "patient_id": "P0042", "author": "nurse.sato", "text": "BT 36.8 P 72",
         "sent_at": "2024-04-01T09:30:00+09:00"}  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [{"secret": "not-the-secret"}, {"tamper": True}, {"stamp": int(time.time()) - 3600}],
    ids=["wrong secret", "body changed after signing", "stale timestamp (replay)"],
)
def test_a_badly_signed_or_replayed_request_is_refused_401_and_nothing_is_stored(inbound, bad, ehr) -> None:
    engine, url = inbound
    resp = _post(url, REPLY, **bad)
    assert resp.status_code == 401 and "error" in resp.json()
    unsigned = requests.post(url, data=json.dumps(REPLY).encode(), timeout=10)
    assert unsigned.status_code == 401
    assert _rows(engine, "sns-back") == []
    with engine.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(messages)).scalar() == 0


def test_a_signed_reply_is_stored_before_200_and_a_resend_is_a_duplicate(inbound, ehr: MllpEhr) -> None:
    engine, url = inbound
    first = _post(url, REPLY)
    assert first.status_code == 200 and first.json()["duplicate"] is False
    assert [(k, s) for k, s, _, _ in _rows(engine, "sns-back")] == [("sns/sns-881", "RECEIVED")]  # stored at 200
    resend = _post(url, REPLY)
    assert resend.status_code == 200 and resend.json() == {"message_id": first.json()["message_id"], "duplicate": True}
    engine.process_pending("sns-back")
    assert [(k, s, t) for k, s, t, _ in _rows(engine, "sns-back")] == [("sns/sns-881", "SENT", "VITALS")]
    assert len(ehr.stored) == 1
    with engine.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar() == 1


def test_an_unreadable_vitals_report_is_answered_422_with_the_reason(inbound) -> None:
    engine, url = inbound
    resp = _post(url, {**REPLY, "text": "BT 368"})
    assert resp.status_code == 422 and "体温" in resp.json()["error"]
    bad_body = _post(url, {**REPLY, "patient_id": ""})
    assert bad_body.status_code == 400 and "patient_id" in bad_body.json()["error"]
    assert _rows(engine, "sns-back") == []

"""Replying from the console: the vitals form and a free-text reply post on the patient's built-in timeline
as the logged-in member, and the `builtin-replies` source takes them back to the EHR (a stand-in on a real
MLLP socket). A value the way back would refuse is refused on the form, with the reason, and nothing is
posted; a user outside the patient's team may not post."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from support.mllp_ehr import MllpEhr

from renkei.bin.console import ConsoleSettings, build_app
from renkei.bin.console.replies import vitals_text
from renkei.config.loader import load_config
from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.mappings.vital_text import VitalTextError
from renkei.pipelines.engine import Engine
from renkei.pipelines.people import People
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import audit_log
from renkei.pipelines.store import Store

CONFIG = """\
version: 1
connectors:
  timeline: {{type: builtin, members: [nurse.sato]}}
  replies: {{type: builtin-replies}}
  ehr: {{type: mllp-sender, host: 127.0.0.1, port: {port}, ack_timeout: 2, attempts: 1}}
pipelines:
  - {{name: builtin-back, source: replies, destinations: [ehr]}}
"""
PASSWORD = "correct horse battery"
PATIENT = "P0042"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[object, Engine, MllpEhr]]:
    ehr = MllpEhr()
    cfg = tmp_path / "renkei.yaml"
    cfg.write_text(CONFIG.format(port=ehr.port), encoding="utf-8")
    data = tmp_path / "data"
    store = Store.in_data_dir(data)
    People(store).add("nurse.sato", ["nurse"], PASSWORD, display_name="佐藤")
    People(store).add("cm.suzuki", ["care"], PASSWORD, display_name="鈴木")  # may reply, not in this team
    engine = Engine(load_config(cfg), store, data)
    PatientRegistry(store).set_consent(PATIENT, True, ["all"], date(2026, 4, 1))
    engine.connector("timeline").ensure_group(PATIENT)
    app = build_app(store, engine, data, ConsoleSettings(allowed_hosts=["127.0.0.1"], idle_timeout_seconds=60))
    yield app, engine, ehr
    engine.close()
    store.close()
    ehr.close()


def _client(app, name: str) -> tuple[TestClient, str]:
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"user": name, "password": PASSWORD, "csrf": token}).status_code == 303
    page = client.get(f"/timelines/{PATIENT}").text
    return client, re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def _posts(engine: Engine) -> list[tuple[str, str]]:
    timeline: BuiltinTimeline = engine.connector("timeline")
    return [(p["author"], p["text"]) for p in timeline.read(timeline.group_for_patient(PATIENT))]


def _obx(raw: bytes) -> list[tuple[str, str, str]]:
    obx = [seg.split("|") for seg in raw.decode().split("\r") if seg.startswith("OBX|")]
    return [(f[3].split("^")[1], f[5], f[6].split("^")[0]) for f in obx]


def test_the_vitals_form_posts_as_the_nurse_and_reaches_the_ehr_with_the_values_given(site) -> None:
    app, engine, ehr = site
    client, csrf = _client(app, "nurse.sato")
    form = {"csrf": csrf, "kind": "vitals", "bt": "３６．８", "bp_sys": "120", "bp_dia": "80", "p": "72", "spo2": "97"}
    sent = client.post(f"/timelines/{PATIENT}/reply", data=form)
    assert sent.status_code == 303 and sent.headers["location"].startswith(f"/timelines/{PATIENT}?replied=")
    assert _posts(engine) == [("nurse.sato", "BT 36.8 BP 120/80 P 72 SpO2 97")]
    assert "投稿しました" in client.get(sent.headers["location"]).text

    stats = engine.run_pipeline(engine.pipeline("builtin-back"))
    assert (stats.received, stats.sent) == (1, 1)
    ((raw,),) = [list(ehr.stored.values())]
    assert "|ORU^R01^ORU_R01|" in raw.decode().split("\r")[0]
    assert _obx(raw) == [
        ("体温", "36.8", "Cel"), ("収縮期血圧", "120", "mm[Hg]"), ("拡張期血圧", "80", "mm[Hg]"),
        ("脈拍", "72", "/min"), ("SpO2", "97", "%"),
    ]  # fmt: skip
    with engine.store.read() as conn:
        actors = conn.execute(sa.select(audit_log.c.actor).where(audit_log.c.action == "timeline.reply")).scalars()
        assert list(actors) == ["nurse.sato"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"bt": "46.0"}, "体温"),  # outside the plausible range
        ({"bt": "36,8"}, "数字だけ"),  # never read as 368
        ({"bt": "36.8 P 200"}, "数字だけ"),  # a field cannot carry another item
        ({"bp_sys": "120"}, "拡張期"),  # half a blood pressure
        ({"spo2": "97.5"}, "小数は 0 桁"),  # more decimals than the item has
        ({}, "値が入力されていません"),
    ],
)
def test_a_value_the_way_back_would_refuse_is_refused_on_the_form_and_nothing_posted(site, fields, reason) -> None:
    app, engine, _ehr = site
    client, csrf = _client(app, "nurse.sato")
    page = client.post(f"/timelines/{PATIENT}/reply", data={"csrf": csrf, "kind": "vitals", **fields})
    assert page.status_code == 400
    error = re.search(r'<p class="error" id="reply-error">(.*?)</p>', page.text, re.S).group(1)
    assert "投稿していません" in error and reason in error
    for value in fields.values():
        assert f'value="{value}"' in page.text  # what the nurse typed stays in the form
    assert _posts(engine) == []


def test_a_free_text_reply_posts_and_one_that_reads_as_bad_vitals_is_refused(site) -> None:
    app, engine, _ehr = site
    client, csrf = _client(app, "nurse.sato")
    refused = client.post(f"/timelines/{PATIENT}/reply", data={"csrf": csrf, "kind": "text", "text": "BT 36,8"})
    assert refused.status_code == 400 and "値のない項目" in refused.text
    ok = client.post(
        f"/timelines/{PATIENT}/reply", data={"csrf": csrf, "kind": "text", "text": "本日は落ち着いています。"}
    )
    assert ok.status_code == 303
    assert _posts(engine) == [("nurse.sato", "本日は落ち着いています。")]


def test_the_reason_is_in_english_for_an_english_session(site) -> None:
    app, _engine, _ehr = site
    client, csrf = _client(app, "nurse.sato")
    assert client.post("/lang", data={"csrf": csrf, "lang": "en"}).status_code == 303
    page = client.post(f"/timelines/{PATIENT}/reply", data={"csrf": csrf, "kind": "vitals", "bp_dia": "80"})
    error = re.search(r'<p class="error" id="reply-error">(.*?)</p>', page.text, re.S).group(1)
    assert "Nothing was posted" in error and "enter both systolic and diastolic" in error and "血圧" not in error


def test_someone_outside_the_team_may_not_post_and_sees_no_form(site) -> None:
    app, engine, _ehr = site
    client, csrf = _client(app, "cm.suzuki")
    assert 'id="vitals-form"' not in client.get(f"/timelines/{PATIENT}").text
    refused = client.post(f"/timelines/{PATIENT}/reply", data={"csrf": csrf, "kind": "text", "text": "こんにちは"})
    assert refused.status_code == 403 and "メンバーではない" in refused.text
    assert _posts(engine) == []


def test_the_form_needs_the_csrf_token(site) -> None:
    app, engine, _ehr = site
    client, _csrf = _client(app, "nurse.sato")
    assert client.post(f"/timelines/{PATIENT}/reply", data={"kind": "text", "text": "x"}).status_code == 403
    assert _posts(engine) == []


def test_vitals_text_writes_only_the_filled_items_in_the_conventions_order() -> None:
    assert vitals_text({"rr": "16", "bt": "37.2"}) == "BT 37.2 RR 16"
    with pytest.raises(VitalTextError, match="収縮期と拡張期"):
        vitals_text({"bp_dia": "80"})

"""The tap station in-process (Starlette's TestClient): the Server-Sent Events stream tails tap-events.jsonl
(what `renkei run` writes, possibly in another process), only a nurse may open it, every view is audited,
and a held reading is confirmed through the same service `renkei devices confirm` uses."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from renkei.bin.console import ConsoleSettings, build_app
from renkei.config.loader import load_config
from renkei.devices.readings import make_observation
from renkei.devices.registry import DeviceRegistry
from renkei.devices.tap import TapConfig, TapSession
from renkei.pipelines.connector_services import EVENTS_FILE, EventBus
from renkei.pipelines.engine import Engine
from renkei.pipelines.people import PERMISSIONS, People
from renkei.pipelines.schema import audit_log, patients
from renkei.pipelines.store import Store

PASSWORD = "correct horse battery"
BADGE, BAND, BP = "02FE000000000001", "02FE000000000002", "0011223344550001"
PATIENT = {"kind": "patient", "patient_id": "P001", "name_kanji": "山田 太郎", "name_kana": "ヤマダ タロウ",
           "birth_date": "1940-02-03"}  # fmt: skip


@pytest.fixture
def ward(tmp_path: Path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"""version: 1
data_dir: {tmp_path}
timezone: UTC
connectors:
  ward: {{type: bedside, wristbands: {{"{BAND}": P001}}}}
  tl: {{type: builtin}}
pipelines:
  - {{name: p, source: ward, destinations: [tl], trigger: {{event: true}}, gates: {{consent: false}}}}
""",
        encoding="utf-8",
    )
    store = Store.in_data_dir(tmp_path)
    engine = Engine(load_config(cfg), store, tmp_path)
    with store.write() as conn:
        conn.execute(patients.insert(), [{"patient_id": "P001", "record": PATIENT, "updated_at": time.time()}])
    people = People(store)
    people.add("nurse.sato", ["nurse"], PASSWORD, display_name="佐藤 花子")
    people.add("dr.tanaka", ["physician"], PASSWORD, display_name="田中 医師")
    app = build_app(store, engine, tmp_path, ConsoleSettings(allowed_hosts=["127.0.0.1"], tapstation_stream_seconds=1))
    yield app, engine, tmp_path
    engine.close()
    store.close()


def _client(app) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


def _login(client: TestClient, name: str) -> None:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"user": name, "password": PASSWORD, "csrf": token}).status_code == 303


def _taps(engine: Engine, data: Path, values: tuple[str, str]):
    """badge -> wristband -> a BP reading, through the bedside connector (its events go to tap-events.jsonl)."""
    ward = engine.connector("ward")
    registry = DeviceRegistry(data)
    registry.add_badge(BADGE, "nurse.sato")
    registry.add_device(BP, "BP", "blood-pressure")
    session = TapSession(
        registry, lambda items: engine.ingest("p", items), TapConfig(timezone="UTC"),
        patient_for_tag=ward.context.patient_for_tag, on_outcome=ward._record_outcome, reader="ward",
    )  # fmt: skip
    now = datetime.now().replace(microsecond=0)
    try:
        assert session.tag(BADGE).ok and session.tag(BAND).ok
        obs = [make_observation(c, v, 3872, effective=now) for c, v in ((18949, values[0]), (18950, values[1]))]
        return session.reading(BP, obs)
    finally:
        registry.close()


def _sse(client: TestClient, query: str) -> list[dict]:
    """The `tap` events one stream sent (the stream ends after tapstation_stream_seconds)."""
    response = client.get(f"/tapstation/events?{query}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in response.text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if fields.get("event") == "tap":
            events.append({"id": fields["id"], **json.loads(fields["data"])})
    return events


def test_the_stream_sends_the_taps_written_to_the_events_file_with_names_and_values(ward) -> None:
    app, engine, data = ward
    client = _client(app)
    _login(client, "nurse.sato")
    page = client.get("/tapstation?reader=ward")
    assert page.status_code == 200 and "タップステーション" in page.text and 'data-start="0:0"' in page.text
    assert _taps(engine, data, ("128", "82")).code == "reading-stored"
    events = _sse(client, "reader=ward&from=0")
    assert [e["code"] for e in events] == ["badge-accepted", "wristband-accepted", "reading-stored"]
    badge, band, reading = events
    assert badge["nurse_name"] == "佐藤 花子"
    assert band["patient"] == {"id": "P001", "name_kanji": "山田 太郎", "name_kana": "ヤマダ タロウ",
                               "birth_date": "1940-02-03"}  # fmt: skip
    shown = [(v["name_ja"], v["value"], v["unit"]) for v in reading["values"]]
    assert shown == [("収縮期血圧", "128", "mmHg"), ("拡張期血圧", "82", "mmHg")]
    assert reading["signal"] == "success" and reading["message"]["ja"] == "測定値を保存しました"
    # resuming from an event's id (an EventSource's Last-Event-ID) sends only what came after it
    after = _sse(client, f"reader=ward&from={badge['id']}")
    assert [e["code"] for e in after] == ["wristband-accepted", "reading-stored"]
    resumed = client.get("/tapstation/events?reader=ward&from=0", headers={"Last-Event-ID": band["id"]})
    assert "wristband-accepted" not in resumed.text and "reading-stored" in resumed.text
    assert _sse(client, "reader=another-ward&from=0") == []  # another reader's taps are not shown
    # a line being written (no newline yet) waits for its end; a torn line is skipped, not fatal
    with (data / EVENTS_FILE).open("a", encoding="utf-8") as f:
        f.write("{not json\n" + json.dumps({"code": "expired", "reader": "ward", "message": {"ja": "時間切れ"}}))
    tail = _sse(client, f"reader=ward&from={reading['id']}")
    assert tail == []
    with (data / EVENTS_FILE).open("a", encoding="utf-8") as f:
        f.write("\n")
    assert [e["code"] for e in _sse(client, f"reader=ward&from={reading['id']}")] == ["expired"]
    with engine.store.read() as conn:
        rows = conn.execute(sa.select(audit_log.c.action, audit_log.c.patient_id)
                            .where(audit_log.c.actor == "nurse.sato")).all()  # fmt: skip
    actions = [r.action for r in rows]
    assert "console.tapstation_open" in actions and "console.tapstation_stream" in actions
    assert ("console.tapstation_show", "P001") in [(r.action, r.patient_id) for r in rows]
    # English on request: the page's words and the language the client picks the bilingual messages in
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert client.post("/lang", data={"csrf": csrf, "lang": "en", "next": "/tapstation"}).status_code == 303
    english = client.get("/tapstation?reader=ward").text
    assert 'data-lang="en"' in english and "Tap station" in english and "Tap your badge" in english


def test_only_a_nurse_may_use_the_tap_station(ward) -> None:
    app, _engine, _data = ward
    assert PERMISSIONS["tapstation.use"] == frozenset({"nurse"})
    client = _client(app)
    assert client.get("/tapstation").status_code == 303  # not logged in: to the login page
    assert client.get("/tapstation/events").status_code == 303
    _login(client, "dr.tanaka")
    assert client.get("/tapstation").status_code == 403
    assert client.get("/tapstation/events?from=0").status_code == 403
    with app.state.store.read() as conn:
        refusals = conn.execute(sa.select(audit_log.c.action, audit_log.c.detail)
                                .where(audit_log.c.actor == "dr.tanaka")).all()  # fmt: skip
    assert any("/tapstation" in r.detail for r in refusals), refusals


def test_a_held_reading_is_confirmed_from_the_tap_station_and_posted_once(ward) -> None:
    app, engine, data = ward
    client = _client(app)
    _login(client, "nurse.sato")
    page = client.get("/tapstation?reader=ward")
    csrf = re.search(r'"csrf" value="([^"]+)"', page.text).group(1)
    held = _taps(engine, data, ("250", "250"))  # diastolic not below systolic: held for the nurse
    assert held.code == "reading-held" and engine.process_pending("p").quarantined == 1
    (event,) = [e for e in _sse(client, "reader=ward&from=0") if e["code"] == "reading-held"]
    assert event["signal"] == "attention" and event["reasons"]
    (offer,) = event["held_readings"]
    assert offer["message_id"] == held.message_ids[0]
    assert client.post("/tapstation/confirm", data={"message_id": str(offer["message_id"])}).status_code == 403
    done = client.post("/tapstation/confirm", data={"csrf": csrf, "message_id": str(offer["message_id"]),
                                                    "reader": "ward"})  # fmt: skip
    assert done.status_code == 303 and "confirmed=" in done.headers["location"]
    again = client.post("/tapstation/confirm", data={"csrf": csrf, "message_id": str(offer["message_id"])})
    assert again.status_code == 303
    timeline = engine.connector("tl")
    (post,) = timeline.read(timeline.group_for_patient("P001"))
    assert "血圧 250/250 mmHg" in post["text"] and "確認: nurse.sato" in post["text"]
    # once confirmed it is no longer offered; a stored (not held) message cannot be confirmed
    (event,) = [e for e in _sse(client, "reader=ward&from=0") if e["code"] == "reading-held"]
    assert event["held_readings"] == []
    new_id = int(done.headers["location"].rsplit("=", 1)[1])
    refused = client.post("/tapstation/confirm", data={"csrf": csrf, "message_id": str(new_id), "reader": "ward"})
    assert refused.status_code == 303 and "error=" in refused.headers["location"]
    with engine.store.read() as conn:
        actions = conn.execute(sa.select(audit_log.c.action, audit_log.c.patient_id)
                               .where(audit_log.c.actor == "nurse.sato")).all()  # fmt: skip
    assert ("bedside.confirm", "P001") in [(a.action, a.patient_id) for a in actions]


@pytest.mark.parametrize("own_tap", [False, True])
def test_watching_the_stream_does_not_keep_a_session_alive_but_the_nurses_own_tap_does(ward, own_tap: bool) -> None:
    app, _engine, data = ward
    app.state.settings.idle_timeout_seconds = 4.0
    client = _client(app)
    _login(client, "nurse.sato")
    logged_in = time.monotonic()
    time.sleep(2.5)
    nurse = "nurse.sato" if own_tap else "nurse.ito"  # another nurse's tap on the same reader is not activity
    with (data / EVENTS_FILE).open("a", encoding="utf-8") as f:
        f.write(json.dumps({"code": "badge-accepted", "reader": "ward", "nurse_id": nurse}) + "\n")
    assert [e["nurse_id"] for e in _sse(client, "reader=ward&from=0")] == [nurse]
    time.sleep(max(0.0, logged_in + 5.0 - time.monotonic()))  # idle since the login, not since the own tap
    assert client.get("/tapstation").status_code == (200 if own_tap else 303)


def test_the_stream_follows_the_events_file_across_a_rotation(ward) -> None:
    """tap-events.jsonl is rotated by size; a page that was reading it finishes the rotated file, then goes on
    with the new one: no tap is lost or shown twice (and a bare offset, an id from before rotation, still works)."""
    app, _engine, data = ward
    bus = EventBus(data, max_bytes=250, keep=2)  # what `renkei run` appends with, rotating every ~3 events
    client = _client(app)
    _login(client, "nurse.sato")
    start = re.search(r'data-start="([^"]+)"', client.get("/tapstation?reader=ward").text).group(1)

    def tap(n: int) -> None:
        bus.publish({"code": "reading-stored", "reader": "ward", "n": n, "message": {"ja": "測定値を保存しました"}})

    tap(0)
    first = _sse(client, f"reader=ward&from={start}")
    assert [e["n"] for e in first] == [0]
    for n in range(1, 5):  # the file rotates while the page is away
        tap(n)
    assert (data / f"{EVENTS_FILE}.1").exists()
    assert [e["n"] for e in _sse(client, f"reader=ward&from={first[-1]['id']}")] == [1, 2, 3, 4]
    for n in range(5, 12):  # more rotations than files kept: the oldest are dropped
        tap(n)
    assert sorted(p.name for p in data.glob(f"{EVENTS_FILE}*")) == [EVENTS_FILE, f"{EVENTS_FILE}.1", f"{EVENTS_FILE}.2"]
    kept = [json.loads(line)["n"] for p in (f"{EVENTS_FILE}.2", f"{EVENTS_FILE}.1", EVENTS_FILE)
            for line in (data / p).read_text("utf-8").splitlines()]  # fmt: skip
    assert kept == list(range(kept[0], 12)) and kept[0] > 0  # contiguous, newest last
    live = [json.loads(line)["n"] for line in (data / EVENTS_FILE).read_text("utf-8").splitlines()]
    assert [e["n"] for e in _sse(client, "reader=ward&from=0")] == live  # a bare offset: the live file

"""The console's message browser, patients (consent) and vitals trend in-process: who may open them,
what they show (JIS decoded, records, deliveries), and that their actions go through the engine."""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from renkei.bin.console import ConsoleSettings, build_app
from renkei.config.loader import load_config
from renkei.connectors.ssmix2.generator import generate
from renkei.devices import nomenclature as mdc
from renkei.devices.readings import make_observation
from renkei.pipelines.engine import Engine
from renkei.pipelines.people import People
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import MessageState, audit_log
from renkei.pipelines.store import Store
from renkei.pipelines.store.items import NewDelivery, Processed, Received

CONFIG = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  timeline: {{type: builtin, members: [nurse.sato]}}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline]
    gates: {{consent: true, consent_scope: timeline, approval: {{required_for: [high]}}}}
"""
PASSWORD = "correct horse battery"
PEOPLE = {"it.admin": ["admin"], "dr.tanaka": ["physician"], "nurse.sato": ["nurse"]}


@pytest.fixture
def console(tmp_path: Path):
    storage = tmp_path / "storage"
    written = generate(storage, patients=1, labs_per_patient=2, seed=7)
    lab = next(w for w in written if any(r.kind == "observation" for r in w.records))
    good = (storage / lab.key).read_bytes()
    (storage / lab.key).write_bytes(b"MSH|^~\\&|broken\r")  # quarantined on the first run
    (tmp_path / "renkei.yaml").write_text(CONFIG.format(root=storage), encoding="utf-8")
    data = tmp_path / "data"
    store = Store.in_data_dir(data)
    engine = Engine(load_config(tmp_path / "renkei.yaml"), store, data)
    patient = written[0].records[0].patient_id
    PatientRegistry(store).set_consent(patient, True, ["all"], date(2026, 4, 1))
    engine.run_pipeline(engine.pipeline("sync"))
    for name, roles in PEOPLE.items():
        People(store).add(name, roles, PASSWORD, display_name=name)
    app = build_app(store, engine, data, ConsoleSettings(allowed_hosts=["127.0.0.1"], idle_timeout_seconds=60))
    yield app, engine, patient, (storage / lab.key, good)
    engine.close()
    store.close()


def _client(app, name: str) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"user": name, "password": PASSWORD, "csrf": token}).status_code == 303
    return client


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-message="(\d+)"', html)]


def _actions(store: Store, actor: str) -> list[tuple[str, str, str]]:
    with store.read() as conn:
        q = sa.select(audit_log.c.action, audit_log.c.patient_id, audit_log.c.detail).where(audit_log.c.actor == actor)
        return [tuple(r) for r in conn.execute(q)]


# -- message browser --------------------------------------------------------------------------------
def test_the_message_browser_filters_by_pipeline_state_patient_and_time(console) -> None:
    app, engine, patient, _lab = console
    client = _client(app, "it.admin")
    everything = _ids(client.get("/messages").text)
    assert len(everything) == len(engine.store.list_messages(limit=1000)) >= 3
    held = _ids(client.get("/messages", params={"state": "AWAITING_APPROVAL"}).text)
    assert held == [m.id for m in engine.store.list_messages(state=MessageState.AWAITING_APPROVAL)]
    assert len(held) == 1  # the other lab result is quarantined
    quarantined = engine.store.list_messages(state=MessageState.QUARANTINED)[0].id  # unreadable: no patient id
    of_patient = _ids(client.get("/messages", params={"patient": patient, "pipeline": "sync"}).text)
    assert of_patient == [i for i in everything if i != quarantined] and len(of_patient) == 2
    assert _ids(client.get("/messages", params={"patient": "nobody"}).text) == []
    assert _ids(client.get("/messages", params={"pipeline": "other"}).text) == []
    tomorrow, yesterday = date.today() + timedelta(days=1), date.today() - timedelta(days=1)
    assert _ids(client.get("/messages", params={"since": tomorrow.isoformat()}).text) == []
    assert _ids(client.get("/messages", params={"until": yesterday.isoformat()}).text) == []
    assert _ids(client.get("/messages", params={"since": yesterday.isoformat()}).text) == everything
    reads = [(p, d) for a, p, d in _actions(engine.store, "it.admin") if a == "console.messages_read"]
    assert ("", f"{len(everything)} rows") in reads and (patient, "2 rows") in reads


def test_a_message_shows_its_jis_raw_decoded_records_and_deliveries(console) -> None:
    app, engine, patient, _lab = console
    held = engine.store.list_messages(state=MessageState.AWAITING_APPROVAL)[0]
    msg, _ = engine.store.get_message(held.id)
    assert b"\x1b$B" in msg.raw  # the stored bytes are ISO-2022-JP
    page = _client(app, "it.admin").get(f"/messages/{held.id}").text
    raw = re.search(r'<pre id="raw"[^>]*>(.*?)</pre>', page, re.S).group(1)
    assert "ISO-2022-JP" in page
    assert raw.startswith("MSH|")
    assert msg.raw.decode("iso2022_jp").split("\r")[1][:40].replace("&", "&amp;").replace("^", "^") in raw
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", raw)  # kanji/kana decoded, not escape sequences
    assert "\x1b" not in raw
    assert '"kind": "observation"' in page.replace("&#34;", '"')
    deliveries = re.search(r'<table id="deliveries">(.*?)</table>', page, re.S).group(1)
    assert "<td>timeline</td><td>HELD</td>" in deliveries
    assert 'id="reprocess"' not in page  # held for a physician: nothing to reprocess
    assert ("console.message_read", patient, "") in _actions(engine.store, "it.admin")


def test_reprocess_runs_a_fixed_quarantined_message_through_the_engine(console) -> None:
    app, engine, _patient, (path, good) = console
    quarantined = engine.store.list_messages(state=MessageState.QUARANTINED)
    assert len(quarantined) == 1
    mid = quarantined[0].id
    client = _client(app, "it.admin")
    page = client.get(f"/messages/{mid}").text
    assert 'id="reprocess"' in page
    assert client.post(f"/messages/{mid}/reprocess", data={}).status_code == 403  # no CSRF token
    path.write_bytes(good)  # the operator fixed the file
    done = client.post(f"/messages/{mid}/reprocess", data={"csrf": _csrf(page)})
    assert done.status_code == 303
    assert done.headers["location"] == f"/messages/{mid}?result=AWAITING_APPROVAL"
    assert engine.store.get_message(mid)[0].state == MessageState.AWAITING_APPROVAL
    assert "AWAITING_APPROVAL" in client.get(done.headers["location"]).text
    with engine.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_log)
                            .where(audit_log.c.action == "message.reprocess")).scalar() == 1  # fmt: skip


def test_only_an_admin_browses_or_reprocesses_messages(console) -> None:
    app, engine, _patient, _lab = console
    mid = engine.store.list_messages(state=MessageState.QUARANTINED)[0].id
    for name in ("dr.tanaka", "nurse.sato"):
        client = _client(app, name)
        assert client.get("/messages").status_code == 403
        assert client.get(f"/messages/{mid}").status_code == 403
        page = client.get("/dashboard").text
        assert client.post(f"/messages/{mid}/reprocess", data={"csrf": _csrf(page)}).status_code == 403
        assert ("access.refused", "", f"messages.reprocess /messages/{mid}/reprocess") in _actions(
            engine.store, name)  # fmt: skip
    assert engine.store.get_message(mid)[0].state == MessageState.QUARANTINED


# -- patients ---------------------------------------------------------------------------------------
def test_patients_show_consent_and_an_admin_withdraws_and_grants_it(console) -> None:
    app, engine, patient, _lab = console
    registry = PatientRegistry(engine.store)
    registry.link(patient, "wristband", "WB-0042")
    client = _client(app, "it.admin")
    listing = client.get("/patients").text
    assert f'data-patient="{patient}"' in listing and "同意あり" in listing and "2026-04-01" in listing
    page = client.get(f"/patients/{patient}").text
    assert "WB-0042" in page
    answer = client.post(f"/patients/{patient}/consent", data={"csrf": _csrf(page), "state": "withdrawn",
                                                               "scope": ["all"], "date": "2026-05-10"})  # fmt: skip
    assert answer.status_code == 303
    consent = registry.consent(patient)
    assert (consent.state, consent.scope, consent.consented_on, consent.recorded_by) == (
        "withdrawn", ("all",), "2026-05-10", "it.admin")  # fmt: skip
    assert "同意撤回" in client.get(f"/patients/{patient}").text
    form = {"csrf": _csrf(page), "state": "granted", "scope": ["timeline", "vitals"], "date": "2026-05-11"}
    client.post(f"/patients/{patient}/consent", data=form)
    assert registry.consent(patient).scope == ("timeline", "vitals")
    assert ("registry.consent", patient, "granted timeline,vitals on 2026-05-11") in _actions(engine.store, "it.admin")
    bad = client.post(f"/patients/{patient}/consent", data={"csrf": _csrf(page), "state": "granted",
                                                            "scope": ["timeline"], "date": "11/05/2026"})  # fmt: skip
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    none = client.post(f"/patients/{patient}/consent", data={"csrf": _csrf(page), "state": "granted",
                                                             "date": "2026-05-12"})  # fmt: skip
    assert none.status_code == 400
    assert registry.consent(patient).consented_on == "2026-05-11"


def test_a_nurse_sees_patients_but_cannot_change_consent(console) -> None:
    app, engine, patient, _lab = console
    client = _client(app, "nurse.sato")
    page = client.get(f"/patients/{patient}")
    assert page.status_code == 200 and 'id="consent-form"' not in page.text
    refused = client.post(f"/patients/{patient}/consent", data={"csrf": _csrf(page.text), "state": "withdrawn",
                                                                "scope": ["all"], "date": "2026-05-10"})  # fmt: skip
    assert refused.status_code == 403
    assert PatientRegistry(engine.store).consent(patient).state == "granted"


# -- vitals trend -----------------------------------------------------------------------------------
def _store_vitals(store: Store, patient: str, readings: list[tuple[int, str, int, datetime]]) -> None:
    records = [make_observation(code, value, unit, effective=at).to_dict() | {"patient_id": patient}
               for code, value, unit, at in readings]  # fmt: skip
    [mid] = store.receive_many("bedside", "ward", [Received("tap-1", "fp-1", b"\x00apdu")])
    store.save_processed([Processed(mid, "bedside", MessageState.SENT, patient_id=patient, data_type="vitals",
                                    records=records)])  # fmt: skip


def test_a_physician_sees_the_vitals_trend_in_the_stored_units(console) -> None:
    app, engine, patient, _lab = console
    now = datetime.now().astimezone()
    _store_vitals(engine.store, patient, [
        (mdc.MDC_PRESS_BLD_NONINV_SYS, "132", mdc.MDC_DIM_MMHG, now - timedelta(days=9)),
        (mdc.MDC_PRESS_BLD_NONINV_DIA, "84", mdc.MDC_DIM_MMHG, now - timedelta(days=9)),
        (mdc.MDC_PRESS_BLD_NONINV_SYS, "141", mdc.MDC_DIM_MMHG, now - timedelta(days=2)),
        (mdc.MDC_PRESS_BLD_NONINV_DIA, "88", mdc.MDC_DIM_MMHG, now - timedelta(days=2)),
        (mdc.MDC_TEMP_BODY, "37.4", mdc.MDC_DIM_DEGC, now - timedelta(days=1)),
        (mdc.MDC_PULS_OXIM_SAT_O2, "NaN", mdc.MDC_DIM_PERCENT, now - timedelta(days=1)),  # never a number
        (mdc.MDC_MASS_BODY_ACTUAL, "61.5", mdc.MDC_DIM_KILO_G, now - timedelta(weeks=9)),  # older than the chart
    ])  # fmt: skip
    page = _client(app, "dr.tanaka").get(f"/patients/{patient}/vitals")
    assert page.status_code == 200
    charts = {m.group(1): m.group(0) for m in re.finditer(r'data-chart="(\w+)".*?</svg>', page.text, re.S)}
    assert sorted(charts) == ["blood_pressure", "temperature"]
    values = re.findall(r'data-series="(\w+)" data-value="([\d.]+)"', charts["blood_pressure"])
    assert values == [("systolic", "132"), ("systolic", "141"), ("diastolic", "84"), ("diastolic", "88")]
    assert "mmHg" in charts["blood_pressure"]
    assert re.findall(r'data-value="([\d.]+)"', charts["temperature"]) == ["37.4"] and "℃" in charts["temperature"]
    assert "<script" not in page.text and "http" not in page.text.split("<svg", 1)[1].replace(
        "http://www.w3.org/2000/svg", "")  # fmt: skip
    assert ("console.vitals_read", patient, "5 values") in _actions(engine.store, "dr.tanaka")  # 4 BP + 1 temp


def test_only_physicians_open_the_vitals_trend(console) -> None:
    app, _engine, patient, _lab = console
    assert _client(app, "nurse.sato").get(f"/patients/{patient}/vitals").status_code == 403
    assert _client(app, "it.admin").get(f"/patients/{patient}/vitals").status_code == 403


# -- dashboard live refresh -------------------------------------------------------------------------
def test_the_dashboard_refreshes_its_tables_from_a_fragment(console) -> None:
    app, _engine, _patient, _lab = console
    client = _client(app, "nurse.sato")
    page = client.get("/dashboard").text
    assert 'fetch("/dashboard/live"' in page and 'http-equiv="refresh"' not in page
    fragment = client.get("/dashboard/live")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'id="message-counts"' in fragment.text
    assert "<td>sync</td>" in fragment.text
    assert TestClient(app, base_url="http://127.0.0.1", follow_redirects=False).get(
        "/dashboard/live").status_code == 303  # no session: back to the login (the page then reloads)


def test_the_dashboards_own_polling_does_not_keep_an_idle_session_alive(console) -> None:
    app, _engine, _patient, _lab = console
    client = _client(app, "it.admin")
    app.state.settings.idle_timeout_seconds = 2.0
    assert client.get("/dashboard").status_code == 200  # the person's last request
    time.sleep(1.2)
    assert client.get("/dashboard/live", headers={"X-Renkei-Poll": "1"}).status_code == 200  # polled, not touched
    time.sleep(1.0)  # 2.2 s since the person's last request
    assert client.get("/dashboard/live", headers={"X-Renkei-Poll": "1"}).status_code == 303


def test_approvals_come_in_pages_of_whole_patients_with_their_texts(console) -> None:
    app, engine, patient, _lab = console
    store = engine.store
    others = [f"8{i:08d}" for i in range(11)]
    ids = store.receive_many("sync", "ehr", [Received(f"held-{i}-{k}", f"fp-{i}-{k}", b"MSH|held\r")
                                             for i in range(11) for k in range(2)])  # fmt: skip
    store.save_processed([
        Processed(mid, "sync", MessageState.AWAITING_APPROVAL, patient_id=others[n // 2], data_type="OML-11",
                  deliveries=[NewDelivery("timeline", f"k-{mid}", {"patient_id": others[n // 2],
                                                                    "text": f"【検査結果】 {others[n // 2]}-{n % 2}"})])
        for n, mid in enumerate(ids)
    ])  # fmt: skip
    client = _client(app, "dr.tanaka")
    first = client.get("/approvals").text
    shown = re.findall(r'data-patient="(\d+)"', first)
    assert shown == [patient, *others[:9]]  # longest waiting first: the fixture's patient, then in order
    assert f"【検査結果】 {others[0]}-0" in first and f"【検査結果】 {others[0]}-1" in first
    assert 'href="/approvals?offset=10"' in first
    second = client.get("/approvals?offset=10").text
    assert re.findall(r'data-patient="(\d+)"', second) == others[9:]
    assert 'id="more-patients"' not in second
    assert len(re.findall(r'class="card item"', second)) == 4  # both items of each of the last two patients

"""The web console in-process (Starlette's TestClient): logins per role, refusals (403, audited), CSRF,
the Host check, session expiry, and a physician's approval reaching the timeline once."""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from renkei.bin.console import ConsoleSettings, build_app
from renkei.config.loader import load_config
from renkei.connectors.ssmix2.generator import generate
from renkei.errors import RefusedError
from renkei.pipelines.engine import Engine
from renkei.pipelines.people import People
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import MessageState, audit_log
from renkei.pipelines.store import Store

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
PEOPLE = {"it.admin": ["admin"], "dr.tanaka": ["physician"], "nurse.sato": ["nurse"], "audit.kato": ["auditor"]}


@pytest.fixture
def console(tmp_path: Path):
    written = generate(tmp_path / "storage", patients=1, labs_per_patient=2, seed=7)
    (tmp_path / "renkei.yaml").write_text(CONFIG.format(root=tmp_path / "storage"), encoding="utf-8")
    data = tmp_path / "data"
    store = Store.in_data_dir(data)
    engine = Engine(load_config(tmp_path / "renkei.yaml"), store, data)
    patient = written[0].records[0].patient_id
    PatientRegistry(store).set_consent(patient, True, ["all"], date(2026, 4, 1))
    engine.run_pipeline(engine.pipeline("sync"))
    people = People(store)
    for name, roles in PEOPLE.items():
        people.add(name, roles, PASSWORD, display_name=name)
    settings = ConsoleSettings(allowed_hosts=["127.0.0.1", "localhost"], idle_timeout_seconds=60)
    app = build_app(store, engine, data, settings)
    yield app, engine, patient
    engine.close()
    store.close()


def _client(app) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


def _login(client: TestClient, name: str, password: str = PASSWORD):
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    return client.post("/login", data={"user": name, "password": password, "csrf": token, "next": "/"})


def _csrf(page_html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page_html).group(1)


def _audit_actions(store: Store, actor: str) -> list[tuple[str, str]]:
    with store.read() as conn:
        rows = conn.execute(sa.select(audit_log.c.action, audit_log.c.detail).where(audit_log.c.actor == actor))
        return [(r.action, r.detail) for r in rows]


@pytest.mark.parametrize(
    ("name", "landing"),
    [
        ("it.admin", "/dashboard"),
        ("dr.tanaka", "/approvals"),
        ("nurse.sato", "/dashboard"),
        ("audit.kato", "/dashboard"),
    ],
)
def test_each_role_logs_in_and_lands_on_its_page(console, name: str, landing: str) -> None:
    app, _engine, _patient = console
    client = _client(app)
    assert _login(client, name).status_code == 303
    home = client.get("/")
    assert home.headers["location"] == landing
    page = client.get(landing)
    assert page.status_code == 200
    assert name in page.text
    assert ("login", "console") in _audit_actions(app.state.store, name)


def test_a_nurse_cannot_open_approvals_or_users_and_the_refusal_is_audited(console) -> None:
    app, _engine, _patient = console
    client = _client(app)
    _login(client, "nurse.sato")
    assert client.get("/approvals").status_code == 403
    assert client.get("/users").status_code == 403
    refusals = [d for a, d in _audit_actions(app.state.store, "nurse.sato") if a == "access.refused"]
    assert refusals == ["approvals.decide /approvals", "users.manage /users"]


def test_a_physician_approves_a_held_lab_result_and_it_is_posted_once(console) -> None:
    app, engine, patient = console
    held = engine.store.list_messages(state=MessageState.AWAITING_APPROVAL, patient_id=patient)
    assert len(held) == 2
    before = engine.connector("timeline").list_groups()[0]["posts"]
    client = _client(app)
    _login(client, "dr.tanaka")
    page = client.get("/approvals")
    assert f'data-message="{held[0].id}"' in page.text
    assert "検査" in page.text or "mg/dL" in page.text or "g/dL" in page.text  # the rendered content is shown
    decided = client.post("/approvals/decide", data={"csrf": _csrf(page.text), "id": str(held[0].id),
                                                     "action": "approve", "note": "確認済み"})  # fmt: skip
    assert decided.status_code == 303
    again = client.post("/approvals/decide", data={"csrf": _csrf(page.text), "id": str(held[0].id),
                                                   "action": "approve", "note": "二度押し"})  # fmt: skip
    assert again.headers["location"] == "/approvals?done=0"  # decided already: nothing twice
    assert engine.connector("timeline").list_groups()[0]["posts"] == before + 1
    assert engine.store.get_message(held[0].id)[0].state == MessageState.SENT
    assert ("approval.approve", "確認済み") in _audit_actions(engine.store, "dr.tanaka")


def test_a_post_without_the_csrf_token_is_refused(console) -> None:
    app, engine, patient = console
    held = engine.store.list_messages(state=MessageState.AWAITING_APPROVAL, patient_id=patient)
    client = _client(app)
    _login(client, "dr.tanaka")
    refused = client.post("/approvals/decide", data={"id": str(held[0].id), "action": "approve"})
    assert refused.status_code == 403
    assert engine.store.get_message(held[0].id)[0].state == MessageState.AWAITING_APPROVAL
    forged = client.post("/approvals/decide", data={"id": str(held[0].id), "action": "approve", "csrf": "x" * 43})
    assert forged.status_code == 403
    # a login form posted from elsewhere (no double-submit cookie) is refused too
    assert _client(app).post("/login", data={"user": "dr.tanaka", "password": PASSWORD}).status_code == 403


@pytest.mark.parametrize("host", ["attacker.example", "127.0.0.1.attacker.example", "localhost.attacker.example:8765"])
def test_a_wrong_host_header_is_refused(console, host: str) -> None:
    app, _engine, _patient = console
    client = TestClient(app, base_url=f"http://{host}", follow_redirects=False)
    assert client.get("/login").status_code == 400
    assert TestClient(app, base_url="http://localhost:8765").get("/login").status_code == 200


def test_an_idle_session_expires_and_logs_out(console) -> None:
    app, _engine, _patient = console
    client = _client(app)
    _login(client, "it.admin")
    assert client.get("/dashboard").status_code == 200  # within the idle timeout (60 s here)
    time.sleep(0.05)
    app.state.settings.idle_timeout_seconds = 0.01  # the same session, now idle for longer than allowed
    expired = client.get("/dashboard")
    assert expired.status_code == 303
    assert expired.headers["location"].startswith("/login")
    assert ("logout", "session expired") in _audit_actions(app.state.store, "it.admin")


def test_repeated_wrong_passwords_lock_the_account(console) -> None:
    app, _engine, _patient = console
    people = app.state.people
    for _ in range(5):
        with pytest.raises(RefusedError):
            people.authenticate("dr.tanaka", "wrong password!", "console")
    with pytest.raises(RefusedError, match="locked"):
        people.authenticate("dr.tanaka", PASSWORD, "console")  # the right password waits out the lock
    refused = _login(_client(app), "dr.tanaka")
    assert refused.status_code == 401
    assert "ロック" in refused.text


def test_english_is_available(console) -> None:
    app, _engine, _patient = console
    client = _client(app)
    _login(client, "it.admin")
    page = client.get("/dashboard")
    assert "ダッシュボード" in page.text
    client.post("/lang", data={"csrf": _csrf(page.text), "lang": "en", "next": "/dashboard"})
    assert "Dashboard" in client.get("/dashboard").text

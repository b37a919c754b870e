"""The console's care team section and timelines by audience: an admin or physician adds and removes
team members (applied to the built-in timeline), a nurse sees the team but cannot change it, and a lab
post for physicians only (a sensitivity rule) is never shown to the nurse's console page."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from renkei.bin.console import ConsoleSettings, build_app
from renkei.config.loader import load_config
from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.connectors.ssmix2.generator import generate
from renkei.pipelines.engine import Engine
from renkei.pipelines.people import People
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import audit_log
from renkei.pipelines.store import Store

CONFIG = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  timeline: {{type: builtin, members: [nurse.sato, dr.tanaka]}}
sensitivity:
  - {{level: low, kinds: [observation], audience: physicians}}
  - {{level: low}}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline]
"""
PASSWORD = "correct horse battery"
PEOPLE = {"it.admin": ["admin"], "dr.tanaka": ["physician"], "nurse.sato": ["nurse"], "cm.suzuki": ["care"]}


@pytest.fixture
def console(tmp_path: Path):
    storage = tmp_path / "storage"
    written = generate(storage, patients=1, labs_per_patient=1, seed=3)
    (tmp_path / "renkei.yaml").write_text(CONFIG.format(root=storage), encoding="utf-8")
    data = tmp_path / "data"
    store = Store.in_data_dir(data)
    for name, roles in PEOPLE.items():
        People(store).add(name, roles, PASSWORD, display_name=name)
    engine = Engine(load_config(tmp_path / "renkei.yaml"), store, data)
    patient = written[0].records[0].patient_id
    PatientRegistry(store).set_consent(patient, True, ["all"], date(2026, 4, 1))
    engine.run_pipeline(engine.pipeline("sync"))
    app = build_app(store, engine, data, ConsoleSettings(allowed_hosts=["127.0.0.1"], idle_timeout_seconds=60))
    yield app, store, patient, data
    engine.close()
    store.close()


def _client(app, name: str) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"user": name, "password": PASSWORD, "csrf": token}).status_code == 303
    return client


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _team(html: str) -> list[str]:
    return re.findall(r'<tr data-member="([^"]+)"', html)


def _post_texts(html: str) -> list[str]:
    return re.findall(r'<div class="post">(.*?)</div>', html, re.S)


def test_a_physician_sees_lab_posts_a_nurse_does_not(console) -> None:
    app, _store, patient, data = console
    tl = BuiltinTimeline.open(data)
    try:
        every = tl.read(tl.group_for_patient(patient))
    finally:
        tl.close()
    restricted = [p["text"] for p in every if p["audience"] == "physicians"]
    team_posts = [p["text"] for p in every if p["audience"] == "team"]
    assert restricted and team_posts  # the lab result went to physicians only, the basics to the team
    doctor = _client(app, "dr.tanaka").get(f"/timelines/{patient}")
    nurse = _client(app, "nurse.sato").get(f"/timelines/{patient}")
    admin = _client(app, "it.admin").get(f"/timelines/{patient}")  # not in the team
    assert doctor.status_code == nurse.status_code == admin.status_code == 200
    assert len(_post_texts(doctor.text)) == len(every)
    for text in restricted:
        first_line = text.splitlines()[0]
        assert first_line in doctor.text
        assert first_line not in nurse.text and first_line not in admin.text
    assert len(_post_texts(nurse.text)) == len(_post_texts(admin.text)) == len(team_posts)
    # the timelines list counts only what each one may see
    counts = {
        who: _listed_posts(_client(app, who).get("/timelines").text, patient) for who in ("dr.tanaka", "nurse.sato")
    }
    assert counts == {"dr.tanaka": len(every), "nurse.sato": len(team_posts)}


def _listed_posts(html: str, patient: str) -> int:
    return int(re.search(rf">{re.escape(patient)}</a></td>\s*<td>[^<]*</td><td>(\d+)</td>", html).group(1))


def test_team_section_add_and_remove_with_roles_enforced(console) -> None:
    app, store, patient, data = console
    admin = _client(app, "it.admin")
    page = admin.get(f"/patients/{patient}")
    assert _team(page.text) == ["dr.tanaka", "nurse.sato"] and 'id="team-form"' in page.text

    added = admin.post(f"/patients/{patient}/team/add",
                       data={"member": "cm.suzuki", "role": "", "csrf": _csrf(page.text)})  # fmt: skip
    assert added.status_code == 303 and "error" not in added.headers["location"]
    page = admin.get(f"/patients/{patient}")
    assert _team(page.text) == ["cm.suzuki", "dr.tanaka", "nurse.sato"] and "コメディカル" in page.text
    removed = admin.post(f"/patients/{patient}/team/remove", data={"member": "nurse.sato", "csrf": _csrf(page.text)})
    assert removed.status_code == 303
    page = admin.get(f"/patients/{patient}")
    assert _team(page.text) == ["cm.suzuki", "dr.tanaka"] and 'id="team-removed"' in page.text

    tl = BuiltinTimeline.open(data)
    try:
        gid = tl.group_for_patient(patient)
        assert tl.member_roles(gid) == {"cm.suzuki": "comedical", "dr.tanaka": "physician", "renkei": ""}
    finally:
        tl.close()
    # the removed nurse still opens the page (timelines.view) but sees no restricted post and is no member
    nurse = _client(app, "nurse.sato")
    nurse_page = nurse.get(f"/patients/{patient}")
    assert 'id="team-form"' not in nurse_page.text and "team/remove" not in nurse_page.text
    refused = nurse.post(f"/patients/{patient}/team/add",
                         data={"member": "nurse.sato", "role": "nurse", "csrf": _csrf(nurse_page.text)})  # fmt: skip
    assert refused.status_code == 403
    bad = admin.post(f"/patients/{patient}/team/add", data={"member": "x y", "role": "", "csrf": _csrf(page.text)})
    assert bad.status_code == 400

    with store.read() as conn:
        q = sa.select(audit_log.c.action, audit_log.c.detail, audit_log.c.actor).where(
            audit_log.c.patient_id == patient
        )
        rows = [tuple(r) for r in conn.execute(q)]
    assert ("team.add", "cm.suzuki member", "it.admin") in rows
    assert ("team.remove", "nurse.sato removed", "it.admin") in rows
    assert ("team.applied", "timeline: nurse.sato removed", "it.admin") in rows
    assert any(a == "access.refused" for a, _d, actor in rows_all(store) if actor == "nurse.sato")


def rows_all(store: Store) -> list[tuple[str, str, str]]:
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(sa.select(audit_log.c.action, audit_log.c.detail, audit_log.c.actor))]

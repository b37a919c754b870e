"""Care teams through the real engine on a real Synapse: the team (seed + added member with a role, named
by console user name and mapped by `accounts`) is invited when the patient's room is made; lab results
that a sensitivity rule makes physicians-only go to the restricted room; `team_sync.remove` and `leave`
(what `renkei patients team` runs) kick the member, who then reads nothing new."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from support.synapse import ssmix2_to_matrix

from renkei.config.loader import load_config
from renkei.connectors.ssmix2.generator import generate
from renkei.pipelines import team_sync
from renkei.pipelines.engine import Engine
from renkei.pipelines.people import People
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.store import Store
from renkei.pipelines.teams import CareTeams

pytestmark = pytest.mark.integration

C = "/_matrix/client/v3"
TOKEN_ENV = "RENKEI_TEST_MATRIX_TEAMS_TOKEN"


def _membership(hs, room: str, user_id: str, bot) -> str:
    path = f"{hs.url}{C}/rooms/{quote(room, safe='')}/state/m.room.member/{quote(user_id, safe='')}"
    resp = requests.get(path, headers=bot.headers, timeout=10)
    return resp.json().get("membership", "") if resp.status_code == 200 else ""


def _bodies(hs, room: str, user) -> tuple[int, list[str]]:
    resp = requests.get(f"{hs.url}{C}/rooms/{quote(room, safe='')}/messages", headers=user.headers,
                        params={"dir": "b", "limit": 100}, timeout=10)  # fmt: skip
    if resp.status_code != 200:
        return resp.status_code, []
    return 200, [e["content"].get("body", "") for e in resp.json()["chunk"] if e["type"] == "m.room.message"]


def test_engine_teams_on_synapse(synapse, matrix_user, tmp_path: Path, monkeypatch) -> None:
    bot, nurse, doctor = matrix_user("renkei-teams-bot"), matrix_user("nurse"), matrix_user("doctor")
    monkeypatch.setenv(TOKEN_ENV, bot.access_token)
    storage, data, cfg = ssmix2_to_matrix(
        tmp_path, synapse, bot, TOKEN_ENV,
        care=f"""
        members: ["{nurse.user_id}"]
        accounts: {{dr.tanaka: "{doctor.user_id}"}}
        """,
        rest="""
        sensitivity:
          - {level: low, kinds: [observation], audience: physicians}
          - {level: low}
        pipelines:
          - {name: sync, source: ehr, destinations: [care]}
        """,
    )  # fmt: skip
    written = generate(storage, patients=1, labs_per_patient=1, seed=13)
    patient = written[0].records[0].patient_id
    store = Store.in_data_dir(data)
    People(store).add("dr.tanaka", ["physician"], "a long test password")
    PatientRegistry(store).set_consent(patient, True, ["all"], date(2026, 4, 1))
    CareTeams(store).add(patient, "dr.tanaka")  # before the room exists: invited when it is made
    CareTeams(store).add(patient, nurse.user_id, "nurse")  # the seed member's role, given by the team
    engine = Engine(load_config(cfg), store, data)
    try:
        engine.run_pipeline(engine.pipeline("sync"))
        conn = engine.connector("care")
        room = conn.ensure_group(patient)
        restricted = conn._store.audience_room(patient, "physicians")
        assert restricted is not None
        assert _membership(synapse, room, nurse.user_id, bot) == "invite"
        assert _membership(synapse, room, doctor.user_id, bot) == "invite"
        assert _membership(synapse, restricted, doctor.user_id, bot) == "invite"
        assert _membership(synapse, restricted, nurse.user_id, bot) == ""  # never asked in
        for user, r in ((nurse, room), (doctor, room), (doctor, restricted)):
            assert requests.post(f"{synapse.url}{C}/join/{quote(r, safe='')}", headers=user.headers, json={},
                                 timeout=10).status_code == 200  # fmt: skip
        status, lab_for_doctor = _bodies(synapse, restricted, doctor)
        assert status == 200 and any("検査結果" in b for b in lab_for_doctor)
        assert _bodies(synapse, restricted, nurse)[0] == 403
        assert not any("検査結果" in b for b in _bodies(synapse, room, nurse)[1])

        # remove the nurse (a seed member) from this patient's team: kicked, reads nothing new
        (applied,) = team_sync.remove(engine, patient, nurse.user_id, actor="it.admin")
        assert (applied.timeline, applied.done) == ("care", True)
        assert _membership(synapse, room, nurse.user_id, bot) == "leave"
        conn.post(room, _note(patient, "5/2 訪問予定変更"), "after-removal")
        assert "5/2 訪問予定変更" not in _bodies(synapse, room, nurse)[1]

        # the physician leaves the organisation: out of both rooms in one call
        persons, results = team_sync.leave(engine, "dr.tanaka", actor="it.admin")
        assert persons == [patient] and [r.done for r in results] == [True]
        assert _membership(synapse, room, doctor.user_id, bot) == "leave"
        assert _membership(synapse, restricted, doctor.user_id, bot) == "leave"
    finally:
        engine.close()
        store.close()


def _note(patient: str, text: str):
    from renkei.connectors.base import TimelinePost

    return TimelinePost(patient_id=patient, text=text)

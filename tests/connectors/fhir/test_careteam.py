"""The care team as a FHIR CareTeam: participants with coded team roles, added, re-roled and removed
(unit), and on a real FHIR server (Medplum, integration): a removed member can no longer read the
patient's fhir-communication timeline; a post for an audience is refused, never sent to the whole team."""

from __future__ import annotations

import pytest

from renkei.connectors.base import TimelinePost
from renkei.connectors.fhir import careteam
from renkei.errors import NotFoundError, PermanentDeliveryError

TEAM = {"resourceType": "CareTeam", "status": "active", "subject": {"reference": "Patient/1"}}


def test_members_are_added_with_a_coded_role_changed_and_removed() -> None:
    team, changed = careteam.with_member(TEAM, "nurse.sato", "nurse")
    assert changed and "participant" not in TEAM  # a copy: the input is not touched
    assert team["participant"] == [
        {
            "member": {"identifier": {"system": "urn:renkei:member", "value": "nurse.sato"}},
            "role": [{"coding": [{"system": "urn:renkei:team-role", "code": "nurse", "display": "看護師"}]}],
        }
    ]
    assert careteam.with_member(team, "nurse.sato", "nurse")[1] is False  # nothing to change
    team, _ = careteam.with_member(team, "dr.kato", "")
    team, changed = careteam.with_member(team, "nurse.sato", "comedical")
    assert changed and careteam.members(team) == {"dr.kato": "", "nurse.sato": "comedical"}
    team, removed = careteam.without_member(team, "nurse.sato")
    assert removed and careteam.members(team) == {"dr.kato": ""}
    team, removed = careteam.without_member(team, "dr.kato")
    assert removed and "participant" not in team  # no empty array
    assert careteam.without_member(team, "dr.kato")[1] is False


class _Conflict(Exception):
    status = 412


class _Server:
    """A CareTeam store that refuses the first update with 412, as when someone changed it meanwhile."""

    def __init__(self) -> None:
        self.team = {**TEAM, "id": "t1", "meta": {"versionId": "1"}}
        self.conflicts = 1

    def read(self, rtype: str, rid: str) -> dict:
        assert (rtype, rid) == ("CareTeam", "t1")
        return self.team

    def update(self, resource: dict, if_match: str = "") -> dict:
        if self.conflicts:
            self.conflicts -= 1
            raise _Conflict()
        assert if_match == self.team["meta"]["versionId"]
        version = str(int(if_match) + 1)
        self.team = {**resource, "meta": {"versionId": version}}
        return self.team


def test_a_concurrent_change_is_read_again_and_retried() -> None:
    server = _Server()
    assert careteam.change_member(server, "CareTeam/t1", "dr.tanaka", "physician") is True
    assert careteam.members(server.team) == {"dr.tanaka": "physician"}
    assert careteam.change_member(server, "CareTeam/t1", "dr.tanaka", None) is True
    assert careteam.members(server.team) == {}
    with pytest.raises(PermanentDeliveryError):
        careteam.change_member(server, "Patient/1", "x", None)


@pytest.fixture
def auth(medplum, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RENKEI_TEST_MEDPLUM_TOKEN", medplum.token)
    return "env:RENKEI_TEST_MEDPLUM_TOKEN"


@pytest.mark.integration
def test_removing_a_member_revokes_their_reading_on_medplum(medplum, auth: str) -> None:
    from tests.connectors.fhir.test_integration import _new_pid, _timeline

    tl = _timeline(medplum, auth)
    pid = _new_pid()
    group = tl.ensure_group(pid)
    tl.add_member(group, "nurse.sato", "nurse")
    tl.add_member(group, "dr.tanaka", "physician")
    tl.post(group, TimelinePost(patient_id=pid, text="訪問看護: 状態安定"), "ct-1")
    assert [p["text"] for p in tl.read(group, "nurse.sato")] == ["訪問看護: 状態安定"]
    assert careteam.members(tl._team(group)) == {"nurse.sato": "nurse", "dr.tanaka": "physician"}

    assert tl.remove_member(group, "nurse.sato") is True
    assert tl.remove_member(group, "nurse.sato") is False
    with pytest.raises(NotFoundError):
        tl.read(group, "nurse.sato")
    assert [p["text"] for p in tl.read(group, "dr.tanaka")] == ["訪問看護: 状態安定"]
    with pytest.raises(PermanentDeliveryError, match="audience"):
        tl.post(group, TimelinePost(patient_id=pid, text="医師のみ", audience="physicians"), "ct-2")

"""A patient's care team as a FHIR CareTeam: participants with their team role, added and removed.

Used by the `fhir-communication` timeline, whose group is a CareTeam: a team member is a participant
identified by `urn:renkei:member|<member>`, with a role coded in `urn:renkei:team-role` (renkei.audiences:
physician, linked_physician, hospital_physician, nurse, comedical; the Japanese label as display). A
change is a read-modify-write with If-Match, retried when someone else changed the team meanwhile.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from renkei.audiences import ROLE_LABELS_JA
from renkei.errors import PermanentDeliveryError

MEMBER = "urn:renkei:member"
TEAM_ROLE = "urn:renkei:team-role"
MAX_TRIES = 3


class _Client(Protocol):
    def read(self, resource_type: str, rid: str) -> dict[str, Any]: ...

    def update(self, resource: dict[str, Any], if_match: str = "") -> dict[str, Any]: ...


def participant(member: str, role: str = "") -> dict[str, Any]:
    """One CareTeam.participant for a team member (role omitted when unknown)."""
    out: dict[str, Any] = {"member": {"identifier": {"system": MEMBER, "value": member}}}
    if role:
        out["role"] = [{"coding": [{"system": TEAM_ROLE, "code": role, "display": ROLE_LABELS_JA.get(role, role)}]}]
    return out


def member_of(p: dict[str, Any]) -> str:
    return str(p.get("member", {}).get("identifier", {}).get("value", ""))


def members(team: dict[str, Any]) -> dict[str, str]:
    """member -> team role ("" when none) of a CareTeam's renkei participants."""
    out: dict[str, str] = {}
    for p in team.get("participant", []):
        if member_of(p):
            codes = [c.get("code", "") for r in p.get("role", []) for c in r.get("coding", [])
                     if c.get("system") == TEAM_ROLE]  # fmt: skip
            out[member_of(p)] = codes[0] if codes else ""
    return out


def with_member(team: dict[str, Any], member: str, role: str = "") -> tuple[dict[str, Any], bool]:
    """The team with `member` as a participant in `role` (a copy), and whether that changed anything."""
    if members(team).get(member) == role and member in members(team):
        return team, False
    out = copy.deepcopy(team)
    out["participant"] = [p for p in out.get("participant", []) if member_of(p) != member]
    out["participant"].append(participant(member, role))
    return out, True


def without_member(team: dict[str, Any], member: str) -> tuple[dict[str, Any], bool]:
    """The team without `member` (a copy), and whether they were in it."""
    if member not in members(team):
        return team, False
    out = copy.deepcopy(team)
    out["participant"] = [p for p in out.get("participant", []) if member_of(p) != member]
    if not out["participant"]:
        del out["participant"]  # FHIR: no empty arrays
    return out, True


def change_member(client: _Client, group_id: str, member: str, role: str | None) -> bool:
    """Add (role given, "" = unknown) or remove (role None) a participant of CareTeam `group_id` on the
    server; True when the team changed. Retries a concurrent change (HTTP 412) a few times."""
    rtype, _, rid = group_id.partition("/")
    if rtype != "CareTeam" or not rid:
        raise PermanentDeliveryError(f"{group_id!r} is not a CareTeam reference")
    for _ in range(MAX_TRIES):
        team = client.read(rtype, rid)
        changed_team, changed = without_member(team, member) if role is None else with_member(team, member, role)
        if not changed:
            return False
        try:
            client.update(changed_team, if_match=team.get("meta", {}).get("versionId", ""))
            return True
        except Exception as exc:
            if getattr(exc, "status", None) != 412:  # someone else changed the team: read it again
                raise
    raise PermanentDeliveryError(f"{group_id}: kept changing while its members were updated")

"""Care teams and audiences on Matrix: who is in a patient's rooms, and the restricted audience rooms.

A patient has one main room (the whole team) and, per audience other than the whole team (physicians,
roles:…), a second room: invite-only, history visible to members since their invitation, carrying the
same `jp.renkei.patient` state with the audience named, and only the audience's members invited. A post
for an audience goes to that room alone, so a member outside it never receives the event.

Team members are renkei member names (console user names) mapped to Matrix ids by the connector's
`accounts` setting, or Matrix ids themselves (`@…:server`). Removing a member kicks them from every room
of the patient: the homeserver then refuses them the room's later events (/messages, /sync).
"""

from __future__ import annotations

import fcntl
import logging
from typing import TYPE_CHECKING, Any

from renkei.audiences import TEAM, normalize_audience, sees
from renkei.connectors.matrix._http import MatrixRequestError, q
from renkei.errors import RefusedError

if TYPE_CHECKING:
    from renkei.connectors.matrix._timeline import MatrixTimeline

log = logging.getLogger(__name__)

CLIENT = "/_matrix/client/v3"
PATIENT_STATE = "jp.renkei.patient"


def matrix_id(tl: MatrixTimeline, member: str) -> str | None:
    """The Matrix id of a team member: a Matrix id as is, else the `accounts` entry; None when unmapped."""
    if member.startswith("@") and ":" in member:
        return member
    return tl.settings.accounts.get(member)


def team_ids(tl: MatrixTimeline, patient_id: str, audience: str = TEAM) -> list[str]:
    """Matrix ids of the patient's team members who see `audience` (configured members when no team)."""
    team = tl.context.team(patient_id)
    pairs = list(team) if team is not None else [(m, "") for m in tl.settings.members]
    out: list[str] = []
    for member, role in pairs:
        if not sees(audience, role):
            continue
        mxid = matrix_id(tl, member)
        if mxid is None:
            tl.context.audit("timeline.invite_skipped", patient_id, f"{tl.name}: no Matrix account for {member}")
            continue
        if mxid != tl.settings.user_id:
            out.append(mxid)
    return sorted(set(out))


def audience_room(tl: MatrixTimeline, main_room: str, audience: str) -> str:
    """The room a post for `audience` goes to: the main room for the whole team, else the patient's
    restricted room for that audience (created on first use, with the audience's members invited)."""
    audience = normalize_audience(audience)
    if audience == TEAM:
        return main_room
    patient_id = _patient_of(tl, main_room)
    if not patient_id:
        raise MatrixRequestError(f"room {main_room} is not a known patient room", 404, "M_NOT_FOUND")
    known = tl._store.audience_room(patient_id, audience)
    if known is not None:
        return known
    with tl._lock_file.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = tl._store.audience_room(patient_id, audience) or _rescan_audience(tl, patient_id, audience)
        return known if known is not None else _create_audience_room(tl, patient_id, audience)


def current_post(
    tl: MatrixTimeline, main_room: str, room: str, record_key: str
) -> tuple[str, tuple[str, str, str] | None]:
    """(room, its current post) of a record: in `room`, else in another room of the patient (the record was
    posted for another audience before), so a new version or a retraction replaces it wherever it is."""
    if not record_key:
        return room, None
    found = tl._store.latest_post(room, record_key)
    if found is not None:
        return room, found
    patient_id = tl._store.patient_of(main_room)
    for other in [main_room, *(tl._store.audience_rooms(patient_id).values() if patient_id else [])]:
        if other != room:
            found = tl._store.latest_post(other, record_key)
            if found is not None:
                return other, found
    return room, None


def _create_audience_room(tl: MatrixTimeline, patient_id: str, audience: str) -> str:
    body: dict[str, Any] = {
        "preset": "private_chat",
        "visibility": "private",
        "name": f"{tl.settings.room_name_template.format(patient_id=patient_id)} ({audience})",
        "initial_state": [
            {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "invite"}},
            # members read from their invitation on, never what was said before they were asked in
            {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "invited"}},
            {"type": "m.room.guest_access", "state_key": "", "content": {"guest_access": "forbidden"}},
            {
                "type": PATIENT_STATE,
                "state_key": "",
                "content": {"patient_id": patient_id, "connector": tl.name, "audience": audience},
            },
        ],
        "invite": team_ids(tl, patient_id, audience),
        "creation_content": {"m.federate": tl.settings.federate},
    }
    room_id = tl._http.call("POST", f"{CLIENT}/createRoom", json=body, repeatable=False, what="createRoom")["room_id"]
    tl._store.remember_room(room_id, None)
    tl._store.remember_audience_room(patient_id, audience, room_id)
    tl.context.audit("timeline.create_group", patient_id, f"{tl.name}: room {room_id} for audience {audience}")
    return room_id


def _rescan_audience(tl: MatrixTimeline, patient_id: str, audience: str) -> str | None:
    tl._rescan(patient_id)  # remembers every tagged room it finds, audience rooms included
    return tl._store.audience_room(patient_id, audience)


def _patient_of(tl: MatrixTimeline, room_id: str) -> str:
    """The patient a main room is for; a room unknown here (the local map was lost) is looked up again,
    with every audience room tagged on the homeserver, so a removal still reaches all of them."""
    patient_id = tl._store.patient_of(room_id)
    if not patient_id:
        tl._rescan("")
        patient_id = tl._store.patient_of(room_id)
    return patient_id


def rooms_of_patient(tl: MatrixTimeline, main_room: str) -> list[str]:
    """The patient's main room and every audience room of theirs known here (or found again)."""
    patient_id = _patient_of(tl, main_room)
    return [main_room, *(tl._store.audience_rooms(patient_id).values() if patient_id else [])]


def membership(tl: MatrixTimeline, room_id: str, mxid: str) -> str:
    try:
        state = tl._http.call(
            "GET", f"{CLIENT}/rooms/{q(room_id)}/state/m.room.member/{q(mxid)}", what="get membership"
        )
    except MatrixRequestError as exc:
        if exc.status != 404:
            raise
        return ""
    return str(state.get("membership", ""))


def add_member(tl: MatrixTimeline, main_room: str, member: str, role: str) -> None:
    """Invite the member to the main room and to the patient's audience rooms their role is in."""
    mxid = matrix_id(tl, member)
    if mxid is None:
        raise RefusedError(f"{tl.name}: no Matrix account for team member {member} (connector setting accounts)")
    tl.invite(main_room, mxid)
    patient_id = tl._store.patient_of(main_room)
    for audience, room in (tl._store.audience_rooms(patient_id) if patient_id else {}).items():
        if sees(audience, role):
            tl.invite(room, mxid)
        elif membership(tl, room, mxid) in ("invite", "join"):
            _kick(tl, room, mxid, "role no longer in this audience")  # a changed role takes them out


def remove_member(tl: MatrixTimeline, main_room: str, member: str) -> bool:
    """Kick the member from every room of the patient; False when they were in none."""
    mxid = matrix_id(tl, member)
    if mxid is None:
        return False
    kicked = False
    for room in rooms_of_patient(tl, main_room):
        if membership(tl, room, mxid) in ("invite", "join", "knock"):
            _kick(tl, room, mxid, "removed from the care team")
            kicked = True
    if kicked:
        tl.context.audit("timeline.remove", tl._store.patient_of(main_room), f"{tl.name}: removed {mxid}")
    return kicked


def _kick(tl: MatrixTimeline, room: str, mxid: str, reason: str) -> None:
    tl._http.call("POST", f"{CLIENT}/rooms/{q(room)}/kick", json={"user_id": mxid, "reason": reason}, what="kick")

"""Care teams per patient: who is in each person's group, with which team role.

A person's team on a timeline is the timeline's configured `members:` (the seed every new group gets)
plus the members added to this person's team, minus those removed from it (a removed seed member stays
out of this person's groups). A member is a console user name (pipelines/people.py), or any id-like name
for a team member without a renkei login; each timeline maps it onto its own accounts (Matrix: `accounts`).

A member's team role (renkei.audiences: physician, linked_physician, hospital_physician, nurse,
comedical) is kept per team membership here; when none was given it comes from the member's renkei user
roles (physician -> physician, nurse -> nurse, care -> comedical), and a member with neither sees only
whole-team posts. Every change is audited in the store's transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from renkei.audiences import role_from_user_roles, role_name
from renkei.db import chunked, upsert
from renkei.errors import NotFoundError, RefusedError
from renkei.identifiers import is_patient_id
from renkei.pipelines.audit import AuditEntry, append, current_actor
from renkei.pipelines.schema import team_members, users
from renkei.pipelines.store import Store

MEMBER = "member"
REMOVED = "removed"
_MEMBER_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@:+")


@dataclass(slots=True, frozen=True)
class TeamMember:
    member: str
    role: str  # a team role, "" when unknown
    seed: bool = False  # from the timeline's configured members (not added for this person)


def check_member(member: str) -> str:
    """A member name is an account name (a console user name or a Matrix id), never a person's name."""
    if not member or len(member) > 100 or not set(member) <= _MEMBER_CHARS:
        raise RefusedError("a member is a user name such as nurse.sato (ASCII letters, digits and - _ . @ : +)")
    return member


class CareTeams:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reading ----------------------------------------------------------------------------------
    def team(self, person_id: str, seed: Sequence[str] = ()) -> list[TeamMember]:
        """The person's effective team for a timeline whose configured members are `seed`."""
        return self.teams([person_id], seed)[person_id]

    def teams(self, person_ids: Sequence[str], seed: Sequence[str] = ()) -> dict[str, list[TeamMember]]:
        rows: dict[str, dict[str, tuple[str, str]]] = {p: {} for p in person_ids}
        with self.store.read() as conn:
            for chunk in chunked(sorted(set(person_ids))):
                q = sa.select(team_members).where(team_members.c.person_id.in_(chunk))
                for r in conn.execute(q):
                    rows[r.person_id][r.member] = (r.state, r.role)
            names = {m for per in rows.values() for m in per} | set(seed)
            user_roles = _user_roles(conn, names)
        out: dict[str, list[TeamMember]] = {}
        for person, own in rows.items():
            team: dict[str, TeamMember] = {}
            for m in seed:
                state, role = own.get(m, (MEMBER, ""))
                if state != REMOVED:
                    team[m] = TeamMember(m, role or user_roles.get(m, ""), seed=True)
            for m, (state, role) in own.items():
                if state == MEMBER:
                    team[m] = TeamMember(m, role or user_roles.get(m, ""), seed=m in seed)
            out[person] = sorted(team.values(), key=lambda t: t.member)
        return out

    def removed(self, person_id: str) -> set[str]:
        with self.store.read() as conn:
            q = sa.select(team_members.c.member).where(
                team_members.c.person_id == person_id, team_members.c.state == REMOVED
            )
            return set(conn.execute(q).scalars())

    def persons_of(self, member: str) -> list[str]:
        """Persons whose team this member was added to (not those they are in only as a seed)."""
        with self.store.read() as conn:
            q = sa.select(team_members.c.person_id).where(
                team_members.c.member == member, team_members.c.state == MEMBER
            )
            return sorted(conn.execute(q).scalars())

    # -- changes ----------------------------------------------------------------------------------
    def add(self, person_id: str, member: str, role: str = "", actor: str = "") -> TeamMember:
        """Add `member` to the person's team (or change their role); role "" = from their user roles."""
        _check_person(person_id)
        check_member(member)
        if role:
            try:
                role = role_name(role)
            except ValueError as exc:
                raise RefusedError(str(exc)) from None
        with self.store.write() as conn:
            if not role and not _user_roles(conn, {member}).get(member):
                raise RefusedError(
                    f"{member} is not a renkei user with a care role: give the team role "
                    "(physician, linked_physician, hospital_physician, nurse, comedical)"
                )
            self._set(conn, [(person_id, member, role, MEMBER)], actor, "team.add")
            effective = role or _user_roles(conn, {member})[member]
        return TeamMember(member, effective)

    def remove(self, person_id: str, member: str, actor: str = "") -> None:
        """Take `member` out of the person's team (a seed member too: kept as removed)."""
        _check_person(person_id)
        check_member(member)
        self.remove_many([person_id], member, actor, action="team.remove")

    def remove_many(self, person_ids: Iterable[str], member: str, actor: str = "", action: str = "team.leave") -> None:
        rows = [(p, member, "", REMOVED) for p in sorted(set(person_ids))]
        if not rows:
            return
        with self.store.write() as conn:
            self._set(conn, rows, actor, action)

    @staticmethod
    def _set(conn: sa.Connection, rows: list[tuple[str, str, str, str]], actor: str, action: str) -> None:
        actor = actor or current_actor()
        now = time.time()
        values = [
            {"person_id": p, "member": m, "role": r, "state": s, "changed_at": now, "changed_by": actor}
            for p, m, r, s in rows
        ]
        upsert(conn, team_members, values, ("person_id", "member"), ("role", "state", "changed_at", "changed_by"))
        append(
            conn,
            [
                AuditEntry(action, p, f"team:{p}", f"{m} {s}" + (f" as {r}" if r else ""), actor=actor)
                for p, m, r, s in rows
            ],
        )


def _check_person(person_id: str) -> None:
    if not is_patient_id(person_id):
        raise NotFoundError("a person id is ASCII letters, digits and - _ . : (at most 64)")


def _user_roles(conn: sa.Connection, names: Iterable[str]) -> dict[str, str]:
    """The team role each renkei user's roles imply (only users with one)."""
    out: dict[str, str] = {}
    for chunk in chunked(sorted(set(names))):
        for name, roles in conn.execute(sa.select(users.c.name, users.c.roles).where(users.c.name.in_(chunk))):
            role = role_from_user_roles(tuple(roles))
            if role:
                out[name] = role
    return out

"""A care-team change reaches every timeline: the registry records it, then each timeline where the person
has a linked group applies it (built-in: membership; Matrix: invite or kick from every room of the patient;
FHIR CareTeam: participant added or removed).

Each timeline is applied on its own: one that fails (server down) does not stop the others, is audited
with its reason and reported to the person who acted; running the same command again retries it (every
step is idempotent). A timeline without team support is reported as such, never silently skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from renkei.connectors.base import Timeline
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.connector_services import seed_members
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.teams import CareTeams, TeamMember


@dataclass(slots=True, frozen=True)
class Applied:
    person_id: str
    timeline: str
    group_id: str
    done: bool
    reason: str = ""  # why it was not done ("" when done)

    def to_dict(self) -> dict[str, Any]:
        return {"person_id": self.person_id, "timeline": self.timeline, "group_id": self.group_id,
                "done": self.done, "reason": self.reason}  # fmt: skip


def timelines(engine: Any) -> list[str]:
    return [n for n in engine.config.connectors if isinstance(engine.connector(n), Timeline)]


def linked_groups(engine: Any, person_id: str) -> list[tuple[str, str]]:
    """(timeline, group id) for every timeline where the registry links a group to the person."""
    ids = PatientRegistry(engine.store).identifiers(person_id)
    return [(n, g) for n in timelines(engine) for g in ids.get(f"timeline:{n}", [])]


def add(engine: Any, person_id: str, member: str, role: str = "", actor: str = "") -> tuple[TeamMember, list[Applied]]:
    added = CareTeams(engine.store).add(person_id, member, role, actor=actor)
    return added, _apply(engine, person_id, member, added.role, remove=False, actor=actor)


def remove(engine: Any, person_id: str, member: str, actor: str = "") -> list[Applied]:
    CareTeams(engine.store).remove(person_id, member, actor=actor)
    return _apply(engine, person_id, member, "", remove=True, actor=actor)


def leave(engine: Any, member: str, actor: str = "") -> tuple[list[str], list[Applied]]:
    """The member leaves the organisation: out of every person's team on every timeline, in one go."""
    teams = CareTeams(engine.store)
    persons = set(teams.persons_of(member))
    registry = PatientRegistry(engine.store)
    for name in timelines(engine):
        if member in seed_members(engine, name):  # in every group of that timeline as a seed member
            persons |= set(registry.persons_linked_on(f"timeline:{name}"))
    teams.remove_many(persons, member, actor=actor, action="team.leave")
    results: list[Applied] = []
    for person in sorted(persons):
        results.extend(_apply(engine, person, member, "", remove=True, actor=actor))
    return sorted(persons), results


def _apply(engine: Any, person_id: str, member: str, role: str, *, remove: bool, actor: str) -> list[Applied]:
    out: list[Applied] = []
    audits: list[AuditEntry] = []
    for name, group in linked_groups(engine, person_id):
        conn = engine.connector(name)
        method = getattr(conn, "remove_member" if remove else "add_member", None)
        if method is None:
            reason = f"timeline {name} ({type(conn).__name__}) cannot {'remove' if remove else 'add'} members"
            out.append(Applied(person_id, name, group, False, reason))
            audits.append(AuditEntry("team.apply_failed", person_id, f"timeline-group:{group}", reason, actor=actor))
            continue
        try:
            method(group, member) if remove else method(group, member, role)
        except Exception as exc:  # reported and audited per timeline; the others still get the change
            reason = f"{type(exc).__name__}: {exc}"[:300]
            out.append(Applied(person_id, name, group, False, reason))
            audits.append(AuditEntry("team.apply_failed", person_id, f"timeline-group:{group}",
                                     f"{name}: {member}: {reason}", actor=actor))  # fmt: skip
            continue
        out.append(Applied(person_id, name, group, True))
        verb = "removed" if remove else f"added as {role or 'unknown role'}"
        audits.append(AuditEntry("team.applied", person_id, f"timeline-group:{group}", f"{name}: {member} {verb}",
                                 actor=actor))  # fmt: skip
    if audits:
        engine.store.audit(audits)
    return out

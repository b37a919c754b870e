"""`renkei patients team PERSON list|add|remove [MEMBER]` and `renkei patients team leave MEMBER`.

A person's care team on every timeline (pipelines/teams.py): the timelines' configured members (the seed)
plus the members added for this person, minus those removed. `add` and `remove` change the registry and
then every timeline where the person has a group (built-in membership, Matrix invite/kick, FHIR CareTeam);
`leave` takes a member who leaves the organisation out of every person's team at once. Acting as a renkei
user (`--as`): `list` needs teams.view, the changes teams.manage (pipelines/people.py). Every change and
each timeline's outcome is audited; a timeline that could not apply it is reported, and running the
command again retries it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from renkei.audiences import ROLE_LABELS_JA, TEAM_ROLES
from renkei.bin.acting import acting_user, as_option
from renkei.bin.cmd_patients import check_person, config_option, open_config
from renkei.bin.common import config_data_dir, emit_json, handle_errors, json_option
from renkei.bin.common import data_option as data_opt
from renkei.errors import NotFoundError
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.store import Store
from renkei.pipelines.teams import CareTeams, check_member

ACTIONS = ("list", "add", "remove")
LEAVE = "leave"


@click.command("team")
@click.argument("words", nargs=-1, required=True, metavar="PERSON list|add|remove [MEMBER] | leave MEMBER")
@click.option("--role", default="", metavar="ROLE", help=f"team role for add: {', '.join(TEAM_ROLES)} (or 連携医師 …)")
@as_option
@config_option
@data_opt
@json_option
@handle_errors
def team(
    words: tuple[str, ...], role: str, as_user: str | None, config_file: Path | None, data: str | None, as_json: bool
) -> None:
    """A patient's care team: list, add or remove a member; `leave MEMBER` removes a member from every team."""
    if words[0] == LEAVE:
        if len(words) != 2:
            raise click.UsageError("usage: renkei patients team leave MEMBER")
        person, action, member = "", LEAVE, words[1]
    else:
        if len(words) < 2 or words[1] not in ACTIONS:
            raise click.UsageError("usage: renkei patients team PERSON list|add|remove [MEMBER]")
        person, action = check_person(words[0]), words[1]
        member = words[2] if len(words) > 2 else ""
        if (action == "list") != (not member) or len(words) > 3:
            raise click.UsageError("list takes no MEMBER; add and remove take one MEMBER")
    if member:
        check_member(member)
    data_dir = config_data_dir(data, config_file)
    store = Store.in_data_dir(data_dir)
    try:
        user = acting_user(store, as_user, "teams.view" if action == "list" else "teams.manage")
        needs_config = action == LEAVE or bool(_linked_timelines(store, person))
        loaded = open_config(config_file, data_dir, required=needs_config and action != "list")
        result = _run(store, loaded, data_dir, action, person, member, role, user.name)
    finally:
        store.close()
    if as_json:
        emit_json(result)
        return
    _echo(result)


def _linked_timelines(store: Store, person: str) -> list[str]:
    if not person:
        return []
    return [s for s in PatientRegistry(store).identifiers(person) if s.startswith("timeline:")]


def _run(
    store: Store, loaded: Any, data_dir: Path, action: str, person: str, member: str, role: str, actor: str
) -> dict[str, Any]:
    if action == "list":
        return _list(store, loaded, person, actor)
    from renkei.pipelines import team_sync
    from renkei.pipelines.engine import Engine

    engine = Engine(loaded, store, data_dir) if loaded is not None else None
    try:
        if engine is None:  # no timeline groups yet (checked above): the registry alone holds the team
            if action == "add":
                added = CareTeams(store).add(person, member, role, actor=actor)
                return {"person_id": person, "action": action, "member": member, "role": added.role, "applied": []}
            CareTeams(store).remove(person, member, actor=actor)
            return {"person_id": person, "action": action, "member": member, "applied": []}
        if action == "add":
            added, applied = team_sync.add(engine, person, member, role, actor=actor)
            return {"person_id": person, "action": action, "member": member, "role": added.role,
                    "applied": [a.to_dict() for a in applied]}  # fmt: skip
        if action == "remove":
            applied = team_sync.remove(engine, person, member, actor=actor)
            return {"person_id": person, "action": action, "member": member, "applied": [a.to_dict() for a in applied]}
        persons, applied = team_sync.leave(engine, member, actor=actor)
        seeded = [n for n in team_sync.timelines(engine) if member in _seeds(engine, n)]
        return {"action": LEAVE, "member": member, "persons": persons, "applied": [a.to_dict() for a in applied],
                "still_configured_on": seeded}  # fmt: skip
    finally:
        if engine is not None:
            engine.close()


def _seeds(engine: Any, name: str) -> list[str]:
    from renkei.pipelines.connector_services import seed_members

    return seed_members(engine, name)


def _list(store: Store, loaded: Any, person: str, actor: str) -> dict[str, Any]:
    teams = CareTeams(store)
    names = sorted(loaded.connector_settings) if loaded is not None else []
    seeds = {n: list(getattr(loaded.connector_settings[n], "members", None) or []) for n in names}
    seed = sorted({m for ms in seeds.values() for m in ms})
    members = teams.team(person, seed)
    if not members and not teams.removed(person) and not PatientRegistry(store).identifiers(person):
        raise NotFoundError(f"no person {person} in the registry")
    store.audit([AuditEntry("team.read", person, f"team:{person}", f"{len(members)} members", actor=actor)])
    return {
        "person_id": person,
        "members": [{"member": t.member, "role": t.role, "seed": t.seed} for t in members],
        "removed": sorted(teams.removed(person)),
    }


def _echo(result: dict[str, Any]) -> None:
    action = result.get("action")
    if action is None:  # list
        click.echo(f"team of {result['person_id']}")
        for m in result["members"]:
            label = ROLE_LABELS_JA.get(m["role"], "役割未設定 / no role")
            click.echo(f"  {m['member']:<24} {m['role'] or '-':<20} {label}{' (seed)' if m['seed'] else ''}")
        for m in result["removed"]:
            click.echo(f"  {m:<24} removed")
        return
    if action == LEAVE:
        click.echo(f"{result['member']} removed from {len(result['persons'])} teams")
        for n in result["still_configured_on"]:
            click.echo(f"  note: still in members: of timeline {n} in the configuration; remove it there too")
    else:
        verb = "added to" if action == "add" else "removed from"
        role = f" as {result['role']}" if result.get("role") else ""
        click.echo(f"{result['member']} {verb} the team of {result['person_id']}{role}")
    failed = 0
    for a in result["applied"]:
        state = "done" if a["done"] else f"NOT DONE: {a['reason']}"
        failed += not a["done"]
        click.echo(f"  {a['timeline']} group {a['group_id']}: {state}")
    if failed:
        raise click.ClickException(f"{failed} timeline(s) did not apply the change; run the command again to retry")

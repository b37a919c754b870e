"""Team roles and post audiences: who in a patient's care team may see a post.

A care team member has one team role (where it lives: pipelines/teams.py; docs/teams.md):

    physician            主治医 / 在宅医  the physician in charge
    linked_physician     連携医師          a cooperating physician of the network
    hospital_physician   病院医師          a physician at the hospital
    nurse                看護師
    comedical            コメディカル      pharmacists, therapists, care managers, helpers …

A post's audience is one of:

    team                 the whole team (the default)
    physicians           every physician role (the physician-only 小部屋)
    roles:R1,R2          the named roles only (the seeds' 公開範囲, e.g. roles:comedical,linked_physician)

A member with no known role sees only whole-team posts: an audience never widens by default.
"""

from __future__ import annotations

TEAM_ROLES = ("physician", "linked_physician", "hospital_physician", "nurse", "comedical")
PHYSICIAN_ROLES = frozenset({"physician", "linked_physician", "hospital_physician"})
ROLE_LABELS_JA = {
    "physician": "主治医",
    "linked_physician": "連携医師",
    "hospital_physician": "病院医師",
    "nurse": "看護師",
    "comedical": "コメディカル",
}
_ROLE_BY_LABEL = {label: role for role, label in ROLE_LABELS_JA.items()}
TEAM = "team"
PHYSICIANS = "physicians"
_ROLES_PREFIX = "roles:"


def role_name(given: str) -> str:
    """A team role from its name or its Japanese label (コメディカル -> comedical); ValueError otherwise."""
    role = _ROLE_BY_LABEL.get(given.strip(), given.strip())
    if role not in TEAM_ROLES:
        raise ValueError(f"{given!r} is not a team role ({', '.join(TEAM_ROLES)})")
    return role


def normalize_audience(given: str | None) -> str:
    """The canonical form of an audience (team, physicians, roles:a,b sorted); ValueError when unknown."""
    text = (given or TEAM).strip()
    if text in (TEAM, "", "全体", "チーム全体"):
        return TEAM
    if text in (PHYSICIANS, "医師のみ"):
        return PHYSICIANS
    names = text[len(_ROLES_PREFIX) :] if text.startswith(_ROLES_PREFIX) else text
    roles = sorted({role_name(r) for r in names.replace("、", ",").split(",") if r.strip()})
    if not roles:
        raise ValueError(f"{given!r} is not an audience (team, physicians or roles:ROLE,…)")
    return _ROLES_PREFIX + ",".join(roles)


def audience_roles(audience: str) -> frozenset[str] | None:
    """The team roles that see a post with this audience; None: the whole team."""
    canonical = normalize_audience(audience)
    if canonical == TEAM:
        return None
    if canonical == PHYSICIANS:
        return PHYSICIAN_ROLES
    return frozenset(canonical[len(_ROLES_PREFIX) :].split(","))


def sees(audience: str, role: str) -> bool:
    """Whether a member with team role `role` ("" = unknown) sees a post with this audience."""
    roles = audience_roles(audience)
    return roles is None or role in roles


def role_from_user_roles(user_roles: tuple[str, ...] | list[str]) -> str:
    """The team role a renkei user's roles (pipelines/people.py) imply, "" when none does."""
    for user_role, team_role in (("physician", "physician"), ("nurse", "nurse"), ("care", "comedical")):
        if user_role in user_roles:
            return team_role
    return ""

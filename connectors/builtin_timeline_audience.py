"""The built-in timeline's audience rule in SQL: which posts a member with a given team role sees
(renkei.audiences: team, physicians, roles:R1,R2). One expression, used by read, list and unread counts,
so no view of the timeline can show a post its audience excludes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from renkei.audiences import PHYSICIAN_ROLES, PHYSICIANS, TEAM, normalize_audience
from renkei.connectors.base import TimelinePost
from renkei.errors import PermanentDeliveryError

_ROLES_PREFIX = "roles:"


def post_audience(post: TimelinePost, key: str) -> str:
    """The post's audience in canonical form; an unknown one refuses the post (never widened to the team)."""
    try:
        return normalize_audience(post.audience)
    except ValueError as exc:
        raise PermanentDeliveryError(f"post {key}: {exc}") from None


def visible_to(audience: sa.ColumnElement[Any], role: Any) -> sa.ColumnElement[bool]:
    """SQL: a post with this audience column is visible to a member with team role `role` (a value, or a
    column or subquery; "" = unknown role, which sees whole-team posts only). SQLite's instr."""
    role = sa.literal(role) if isinstance(role, str) else role
    listed = sa.literal(",") + sa.func.substr(audience, len(_ROLES_PREFIX) + 1) + sa.literal(",")
    return sa.or_(
        audience == TEAM,
        sa.and_(audience == PHYSICIANS, role.in_(sorted(PHYSICIAN_ROLES))),
        sa.and_(audience.startswith(_ROLES_PREFIX), role != "",
                sa.func.instr(listed, sa.literal(",") + role + sa.literal(",")) > 0),
    )  # fmt: skip

"""members: the team role; posts: the audience (who in the team sees the post)

Revision ID: timeline_0003
Revises: timeline_0002
Create Date: 2026-12-02 05:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "timeline_0003"
down_revision: str | Sequence[str] | None = "timeline_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=40), server_default="", nullable=False))
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audience", sa.String(length=200), server_default="team", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("audience")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("role")

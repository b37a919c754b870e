"""posts: the source version, so an older version arriving late never replaces a newer post

Revision ID: timeline_0002
Revises: timeline_0001
Create Date: 2026-12-02 04:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "timeline_0002"
down_revision: str | Sequence[str] | None = "timeline_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_version", sa.String(length=40), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("source_version")

"""messages: pruned_at and pruned (retention)

Revision ID: store_0003
Revises: store_0002
Create Date: 2026-12-02 04:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "store_0003"
down_revision: str | Sequence[str] | None = "store_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pruned_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("pruned", sa.String(length=40), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("pruned")
        batch_op.drop_column("pruned_at")

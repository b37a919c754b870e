"""audience_rooms: a patient's restricted room per audience (physicians, roles:…)

Revision ID: matrix_0003
Revises: matrix_0002
Create Date: 2026-12-02 05:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "matrix_0003"
down_revision: str | Sequence[str] | None = "matrix_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audience_rooms",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("audience", sa.Text(), nullable=False),
        sa.Column("room_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "audience"),
    )


def downgrade() -> None:
    op.drop_table("audience_rooms")

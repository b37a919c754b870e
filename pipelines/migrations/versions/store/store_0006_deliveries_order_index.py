"""deliveries: index (destination, patient_id, state) for per-patient delivery jobs

Revision ID: store_0006
Revises: store_0005
Create Date: 2026-12-02 05:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "store_0006"
down_revision: str | Sequence[str] | None = "store_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deliveries_order", "deliveries", ["destination", "patient_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_order", table_name="deliveries")

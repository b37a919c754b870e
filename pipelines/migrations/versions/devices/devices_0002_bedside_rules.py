"""bedside rules: device status and time zone, badge revocation; the second wristband table goes

Revision ID: devices_0002
Revises: devices_0001
Create Date: 2026-12-02 03:30:00

The 0.1.0 `wristbands` table duplicated the patient registry's tag identifiers. Its rows live in another
database (the store), so they are moved at run time by the bedside (devices/registry.py reads them once,
links them in the registry and drops the table); here it is dropped at once only where it is empty.
The unused `patients` table goes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "devices_0002"
down_revision: str | Sequence[str] | None = "devices_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), server_default="active", nullable=False))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), server_default="", nullable=False))
        batch_op.add_column(sa.Column("first_seen_at", sa.Float(), nullable=True))
    with op.batch_alter_table("badges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_at", sa.Float(), nullable=True))
    op.drop_table("patients")
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT COUNT(*) FROM wristbands")).scalar() == 0:
        op.drop_table("wristbands")


def downgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table("wristbands"):
        op.create_table(
            "wristbands",
            sa.Column("tag_id", sa.String(length=64), nullable=False),
            sa.Column("patient_id", sa.String(length=64), nullable=False),
            sa.Column("registered_at", sa.Float(), nullable=False),
            sa.PrimaryKeyConstraint("tag_id"),
        )
    op.create_table(
        "patients",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("patient_id"),
    )
    with op.batch_alter_table("badges", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("first_seen_at")
        batch_op.drop_column("timezone")
        batch_op.drop_column("status")

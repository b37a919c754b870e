"""Tables of renkei's people: users with their roles, and the console's server-side sessions.

They live in the store's metadata, so they are created, migrated and backed up with the rest of the store.
A session row keeps only the SHA-256 of its token: a copy of the database does not log anyone in.
"""

from __future__ import annotations

import sqlalchemy as sa

from renkei.pipelines.schema import metadata

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),  # the login, e.g. "dr.tanaka"
    sa.Column("display_name", sa.Text, nullable=False, default=""),
    sa.Column("roles", sa.JSON, nullable=False),  # ["physician"], ["nurse", "care"] …
    sa.Column("password_hash", sa.Text, nullable=False),  # argon2id, PHC string
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("password_changed_at", sa.Float, nullable=False),
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(100), sa.ForeignKey("users.name"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_seen_at", sa.Float, nullable=False),
    sa.Column("lang", sa.String(8), nullable=False, default="ja"),
    sa.Index("ix_web_sessions_user", "user_name"),
)

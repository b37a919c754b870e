"""The built-in timeline's tables (its own SQLite file, `timeline.sqlite`), and the Alembic revision they
are at (pipelines/migrations/versions/timeline/: see docs/schema.md)."""

from __future__ import annotations

import sqlalchemy as sa

from renkei.audiences import TEAM
from renkei.db_version import DbSchema

_md = sa.MetaData()
groups = sa.Table(
    "groups",
    _md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("patient_id", sa.String(64), nullable=False, unique=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
members = sa.Table(
    "members",
    _md,
    sa.Column("group_id", sa.Integer, sa.ForeignKey("groups.id"), primary_key=True),
    sa.Column("member", sa.String(100), primary_key=True),
    sa.Column("invited_at", sa.Float, nullable=False),
    # since timeline_0003: the member's team role (renkei.audiences), "" = unknown (sees whole-team posts only)
    sa.Column("role", sa.String(40), nullable=False, server_default=""),
)
posts = sa.Table(
    "posts",
    _md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("groups.id"), nullable=False),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("links", sa.JSON, nullable=False),
    sa.Column("attachments", sa.JSON, nullable=False),  # [{name, media_type, sha256, size}]
    sa.Column("record_key", sa.String(200), nullable=False),
    # since timeline_0002: the source version (TimelinePost.source_version); an older one never replaces a newer
    sa.Column("source_version", sa.String(40), nullable=False, server_default=""),
    # since timeline_0003: who sees the post (renkei.audiences: team, physicians, roles:R1,R2)
    sa.Column("audience", sa.String(200), nullable=False, server_default=TEAM),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("replaced_by", sa.Integer, nullable=True),
    sa.Column("retracted_at", sa.Float, nullable=True),
    sa.Index("ix_posts_group", "group_id", "id"),
    sa.Index("ix_posts_record", "group_id", "record_key"),
)
reads = sa.Table(
    "reads",
    _md,
    sa.Column("post_id", sa.Integer, sa.ForeignKey("posts.id"), primary_key=True),
    sa.Column("member", sa.String(100), primary_key=True),
    sa.Column("read_at", sa.Float, nullable=False),
)
# The Alembic revision these tables are at (pipelines/migrations/versions/timeline/): see docs/schema.md.
SCHEMA = DbSchema("timeline", "timeline_0003", _md)

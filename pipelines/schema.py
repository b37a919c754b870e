"""Tables of the durable store (SQLAlchemy Core, so SQLite and PostgreSQL share one definition).

Times are UNIX epoch seconds (float): cheap to compare in the delivery scheduler and unambiguous across
time zones; the operator commands print them as ISO 8601.
"""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa

from renkei.db_version import DbSchema


class MessageState(StrEnum):
    RECEIVED = "RECEIVED"  # raw input stored durably; nothing else has happened yet
    FILTERED = "FILTERED"  # a pipeline filter dropped it on purpose
    TRANSFORMED = "TRANSFORMED"  # parsed and turned into destination payloads
    QUEUED = "QUEUED"  # deliveries waiting
    SENT = "SENT"  # every delivery succeeded
    ERROR = "ERROR"  # a delivery failed and will be retried
    QUARANTINED = "QUARANTINED"  # bad input, kept with its reason, reprocessable
    AWAITING_APPROVAL = "AWAITING_APPROVAL"  # sensitive data waiting for a physician
    DEAD = "DEAD"  # retries exhausted, or a permanent refusal; reprocessable


class DeliveryState(StrEnum):
    HELD = "HELD"  # its message awaits a physician's approval
    QUEUED = "QUEUED"
    ERROR = "ERROR"
    SENT = "SENT"
    DEAD = "DEAD"


PENDING_DELIVERY_STATES = (DeliveryState.QUEUED.value, DeliveryState.ERROR.value)

metadata = sa.MetaData()

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("pipeline", sa.String(100), nullable=False),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("source_key", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(100), nullable=False, default=""),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("patient_id", sa.String(64), nullable=False, default=""),
    sa.Column("data_type", sa.String(40), nullable=False, default=""),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("warnings", sa.JSON, nullable=False, default=list),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("records", sa.JSON, nullable=True),
    # Retention (pipelines/retention.py): when the content was dropped, and what ("raw,records,payloads").
    sa.Column("pruned_at", sa.Float, nullable=True),
    sa.Column("pruned", sa.String(40), nullable=False, default="", server_default=""),
    sa.Index("ix_messages_pipeline_state", "pipeline", "state"),
    sa.Index("ix_messages_source_key", "pipeline", "source_key"),
    sa.Index("ix_messages_patient", "patient_id"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id"), nullable=False),
    sa.Column("pipeline", sa.String(100), nullable=False),
    sa.Column("destination", sa.String(100), nullable=False),
    sa.Column("patient_id", sa.String(64), nullable=False, default=""),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("first_attempt_at", sa.Float, nullable=True),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("last_error", sa.Text, nullable=False, default=""),
    sa.Column("idempotency_key", sa.String(200), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("receipt", sa.Text, nullable=False, default=""),
    sa.Index("ix_deliveries_pending", "state", "id"),
    sa.Index("ix_deliveries_message", "message_id"),
    # A delivery job's query: one (destination, patient)'s pending deliveries (pipelines/cluster).
    sa.Index("ix_deliveries_order", "destination", "patient_id", "state"),
)

# Per destination: every idempotency key ever delivered, with the target's receipt. A replay or a
# retry after a crash looks here first and never posts twice.
idempotency = sa.Table(
    "idempotency",
    metadata,
    sa.Column("destination", sa.String(100), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("receipt", sa.Text, nullable=False),
    sa.Column("delivered_at", sa.Float, nullable=False),
)

# Per source: the fingerprint of every input already stored, sharded by group (e.g. patient folder)
# so a rescan holds one group's rows at a time.
source_ledger = sa.Table(
    "source_ledger",
    metadata,
    sa.Column("pipeline", sa.String(100), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("grp", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(100), nullable=False),
    sa.Column("message_id", sa.Integer, nullable=False),
    sa.Index("ix_ledger_group", "pipeline", "grp"),
    sa.Index("ix_ledger_message", "message_id"),
)

# Canonical patient basics by EHR id, kept current from the sources, for templates and the registry.
patients = sa.Table(
    "patients",
    metadata,
    sa.Column("patient_id", sa.String(64), primary_key=True),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("patient_id", sa.String(64), nullable=False),
    sa.Column("object", sa.String(200), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)


# -- patient registry: one person across systems ---------------------------------------------------
# A person is keyed by renkei's person id (by convention the patient id of the first EHR it came from).
# Each identifier is (system, value): "ehr:<source connector>" -> that EHR's patient id,
# "timeline:<destination connector>" -> the patient's group there, "tag" -> a wristband/card id,
# "viewer:<viewer name>" -> the id that viewer's per-patient URL needs.
registry_identifiers = sa.Table(
    "registry_identifiers",
    metadata,
    sa.Column("system", sa.String(120), primary_key=True),
    sa.Column("value", sa.String(200), primary_key=True),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("linked_at", sa.Float, nullable=False),
    sa.Column("linked_by", sa.String(100), nullable=False),
    sa.Index("ix_registry_person", "person_id"),
)

registry_consent = sa.Table(
    "registry_consent",
    metadata,
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(20), nullable=False),  # granted | withdrawn
    sa.Column("scope", sa.JSON, nullable=False),  # ["all"] or e.g. ["timeline", "lab", "vitals"]
    sa.Column("consented_on", sa.String(10), nullable=False),  # the date the patient consented (ISO)
    sa.Column("recorded_at", sa.Float, nullable=False),
    sa.Column("recorded_by", sa.String(100), nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
)

# -- care teams: each person's team, beyond the seed members a timeline's config invites (pipelines/teams.py) -
# state "member" adds the member (with their team role); "removed" takes a seed member out of this person's
# team. A member is a console user name (people.py) or, for a member without a renkei login, any id-like name.
team_members = sa.Table(
    "team_members",
    metadata,
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("member", sa.String(100), primary_key=True),
    sa.Column("role", sa.String(40), nullable=False, default=""),  # teams.TEAM_ROLES, "" = from the user's roles
    sa.Column("state", sa.String(20), nullable=False),  # member | removed
    sa.Column("changed_at", sa.Float, nullable=False),
    sa.Column("changed_by", sa.String(100), nullable=False),
    sa.Index("ix_team_members_member", "member"),
)

# -- people: users with their roles (pipelines/people.py) and the console's server-side sessions --------
# A session row keeps only the SHA-256 of its token: a copy of the database logs no one in.
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

# -- notifications: where each person wants their digest, and which digests went (pipelines/digests.py) ----
user_contacts = sa.Table(
    "user_contacts",
    metadata,
    sa.Column("user_name", sa.String(100), sa.ForeignKey("users.name"), primary_key=True),
    sa.Column("email", sa.Text, nullable=False, default=""),
    sa.Column("matrix_id", sa.Text, nullable=False, default=""),
    sa.Column("lang", sa.String(8), nullable=False, default="ja"),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# One row per (person, day, channel) once the channel accepted the digest: a rerun or a second host
# sends nothing twice. `counts` keeps what was said (numbers only), for "what did I get told".
digests_sent = sa.Table(
    "digests_sent",
    metadata,
    sa.Column("user_name", sa.String(100), primary_key=True),
    sa.Column("period", sa.String(10), primary_key=True),  # the site's date, YYYY-MM-DD
    sa.Column("channel", sa.String(10), primary_key=True),  # email | matrix
    sa.Column("sent_at", sa.Float, nullable=False),
    sa.Column("counts", sa.JSON, nullable=False),
)

# The Alembic revision (history "store": pipelines/migrations/versions/store/) these definitions are at. A changed
# table needs a new revision and this bumped to it: docs/schema.md.
SCHEMA = DbSchema("store", "store_0006", metadata)

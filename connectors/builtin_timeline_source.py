"""builtin-replies — the way back from the built-in timeline: members' replies as a source.

Config:
    connectors:
      timeline: {type: builtin}
      timeline-replies:
        type: builtin-replies
        path: null          # the built-in timeline's folder (its `path`); default: the data folder
    pipelines:
      - {name: replies-to-ehr, source: timeline-replies, destinations: [ehr], trigger: {interval_seconds: 30}}

A member replies with `post_reply(timeline, patient_id, member, text)` (the CLI: `renkei timeline reply`):
it checks the member belongs to the patient's group and posts under an idempotency key `reply:<uuid>`.
Only those posts are read back: never the system's own posts (forward posts of renkei, refusal notices),
so nothing loops. `scan()` lists them (key `builtin/<post id>`, one fingerprint: a post never changes),
the engine's ledger skips what it already stored; `read()` gives the reply as `InboundReply` JSON.
A vitals report that cannot be read is refused and the nurse is told by a post in the same group.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BaseModel, Field

from renkei.connectors.base import ConnectorContext, Parsed, TimelinePost
from renkei.connectors.builtin_timeline import SYSTEM_ACCOUNT, BuiltinTimeline, groups, posts
from renkei.connectors.builtin_timeline_settings import BuiltinTimelineSettings
from renkei.connectors.timeline_reply import InboundReply, parse_stored_reply, refusal_text
from renkei.errors import InputError, NotFoundError, RefusedError
from renkei.records import SourceItem

REPLY_KEY_PREFIX = "reply:"
ORIGIN = "builtin"


def post_reply(timeline: BuiltinTimeline, patient_id: str, member: str, text: str) -> str:
    """A member's reply on a patient's group; RefusedError if they are not a member of it."""
    if member == SYSTEM_ACCOUNT:
        raise RefusedError("the system account cannot reply on behalf of a member")
    group_id = timeline.group_for_patient(patient_id)  # NotFoundError: no group for this patient
    if member not in timeline.members_of(group_id):
        raise RefusedError(f"{member} is not a member of timeline group {group_id}")
    post = TimelinePost(patient_id=patient_id, text=text, author=member)
    return timeline.post(group_id, post, REPLY_KEY_PREFIX + uuid.uuid4().hex)


class BuiltinRepliesSettings(BaseModel):
    model_config = {"extra": "forbid"}
    path: Path | None = Field(None, description="the built-in timeline's folder; default: the data folder")


class BuiltinTimelineReplies:
    Settings = BuiltinRepliesSettings

    def __init__(self, name: str, settings: BuiltinRepliesSettings, context: ConnectorContext) -> None:
        self.name = name
        self.context = context
        self.timeline = BuiltinTimeline(name, BuiltinTimelineSettings(path=settings.path), context)
        self._zone = ZoneInfo(context.timezone)

    def close(self) -> None:
        self.timeline.close()

    def _replies(self) -> sa.Select:
        return (
            sa.select(posts.c.id, posts.c.group_id, posts.c.author, posts.c.text, posts.c.created_at,
                      groups.c.patient_id)
            .select_from(posts.join(groups, groups.c.id == posts.c.group_id))
            .where(posts.c.idempotency_key.startswith(REPLY_KEY_PREFIX), posts.c.author != SYSTEM_ACCOUNT)
        )  # fmt: skip

    def scan(self) -> Iterator[SourceItem]:
        with self.timeline._reader.connect() as conn:
            rows = conn.execute(self._replies().order_by(posts.c.group_id, posts.c.id)).all()
        for r in rows:
            yield SourceItem(key=f"{ORIGIN}/{r.id}", fingerprint="1", group=f"g{r.group_id}")

    def read(self, key: str) -> bytes:
        try:
            post_id = int(key.removeprefix(f"{ORIGIN}/"))
        except ValueError:
            raise InputError(f"{key}: not a built-in timeline reply key") from None
        with self.timeline._reader.connect() as conn:
            r = conn.execute(self._replies().where(posts.c.id == post_id)).first()
        if r is None:
            raise InputError(f"{key}: no such reply on the built-in timeline")
        sent = datetime.fromtimestamp(r.created_at, self._zone).isoformat()
        reply = InboundReply(ORIGIN, str(r.id), r.patient_id, r.author, r.text, sent)
        self.context.audit("timeline.reply.read", r.patient_id, f"{self.name}: {key}")
        return reply.to_raw()

    def parse(self, key: str, raw: bytes) -> Parsed:
        return parse_stored_reply(raw, key, self._tell)

    def _tell(self, reply: InboundReply, key: str, reason: str) -> None:
        """The nurse is told in the same group; once per reply (the post's key is derived from it)."""
        try:
            group_id = self.timeline.group_for_patient(reply.patient_id)
        except NotFoundError:
            return
        notice = TimelinePost(patient_id=reply.patient_id, text=refusal_text(reason), tags=["受付不可"])
        self.timeline.post(group_id, notice, f"refusal:{key}")

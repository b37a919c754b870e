"""builtin — renkei's own patient timeline, the embedded default destination.

It stands in for a care SNS (Medical Care Station, どこでも連絡帳): one invite-only group per patient,
members, posts with text, tags, links and attachments, read receipts and unread counts. It lives in its
own SQLite file in the data folder (`timeline.sqlite`, attachments under `attachments/`) and is a
connector like any other: the engine reaches it only through the Timeline contract.

Config:
    connectors:
      timeline:
        type: builtin
        members: [nurse.sato, dr.tanaka]   # invited to every new patient group (the team seed)

Posting is idempotent by key (a unique index, so even two processes cannot post twice). A post carrying
the `record_key` of an earlier one replaces it (SS-MIX2 update); `retracts` withdraws it (delete). A post
whose `source_version` is older than the current post's is kept but never shown: an older version
arriving late never replaces a newer one.

Teams and audiences (docs/teams.md): a new group invites the patient's care team (from the engine, through
the ConnectorContext; its configured `members` when there is none), each member with their team role;
`remove_member` takes a member out (they read nothing of the group any more). A post has an audience
(renkei.audiences): a member whose role is not in it never sees the post: not in `read`, not in the post
and unread counts of `list_groups`, and their read receipts are never recorded for it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from renkei.audiences import TEAM
from renkei.connectors.base import ConnectorContext, TimelinePost
from renkei.connectors.builtin_timeline_audience import post_audience, visible_to
from renkei.connectors.builtin_timeline_settings import BuiltinTimelineSettings
from renkei.connectors.builtin_timeline_tables import SCHEMA, groups, members, posts, reads
from renkei.db import chunked, make_engine, upsert
from renkei.db_version import ensure_current
from renkei.errors import NotFoundError, RefusedError

DB_FILE = "timeline.sqlite"
SYSTEM_ACCOUNT = "renkei"
__all__ = ["DB_FILE", "SCHEMA", "SYSTEM_ACCOUNT", "BuiltinTimeline", "groups", "members", "posts", "reads"]



class BuiltinTimeline:
    """The embedded timeline: a real Timeline connector on SQLite."""

    Settings = BuiltinTimelineSettings
    supports_audiences = True  # a post for an audience reaches only its members (docs/teams.md)

    def __init__(self, name: str, settings: Settings, context: ConnectorContext) -> None:
        self.name = name
        self.settings = settings
        folder = settings.path or context.data_dir
        folder.mkdir(parents=True, exist_ok=True)
        self._attachments = folder / "attachments"
        url = f"sqlite:///{folder / DB_FILE}"
        self._writer = make_engine(url, immediate=True)
        self._reader = make_engine(url, immediate=False)
        try:
            ensure_current(self._writer, SCHEMA, str(folder / DB_FILE), reader=self._reader)
        except BaseException:
            self.close()
            raise
        self._group_ids: dict[str, int] = {}
        self._teams = context.teams

    @classmethod
    def open(cls, data_dir: Path, members: Sequence[str] = ()) -> BuiltinTimeline:
        return cls("builtin", cls.Settings(members=list(members)), ConnectorContext(data_dir=data_dir))

    def close(self) -> None:
        self._writer.dispose()
        self._reader.dispose()

    # -- Destination ------------------------------------------------------------------------------
    def deliver(self, payload: dict[str, Any], idempotency_key: str) -> str:
        (result,) = self.deliver_many([(payload, idempotency_key)])
        if isinstance(result, Exception):
            raise result
        return result

    def deliver_many(self, items: Sequence[tuple[dict[str, Any], str]]) -> list[str | Exception]:
        """All items in one transaction: each is posted once per key, in the order given."""
        try:
            with self._writer.begin() as conn:
                group_of = self._ensure_groups(conn, [p["patient_id"] for p, _ in items if not p.get("group_id")])
                self._require_groups(conn, {int(p["group_id"]) for p, _ in items if p.get("group_id")})
                entries = [(_target_group(p, group_of), TimelinePost.from_dict(p), k) for p, k in items]
                return [str(pid) for pid in self._post_many(conn, entries)]
        except Exception:
            self._group_ids.clear()  # groups created in the rolled-back transaction do not exist
            raise

    # -- Timeline ---------------------------------------------------------------------------------
    def ensure_group(self, patient_id: str, title: str = "") -> str:
        with self._writer.begin() as conn:
            return str(self._ensure_group(conn, patient_id, title))

    def ensure_groups(self, patient_ids: Sequence[str]) -> dict[str, str]:
        """Batch form of ensure_group (one transaction)."""
        with self._writer.begin() as conn:
            return {p: str(g) for p, g in self._ensure_groups(conn, patient_ids).items()}

    def invite(self, group_id: str, member: str, role: str | None = None) -> None:
        """Make `member` a member of the group with their team role (None: keep the one they have, "" if new)."""
        with self._writer.begin() as conn:
            self._require_group(conn, int(group_id))
            self._invite(conn, int(group_id), member, role)

    def add_member(self, group_id: str, member: str, role: str = "") -> None:
        """A care team member joins (or changes role): `role` replaces the one they had."""
        self.invite(group_id, member, role)

    def remove_member(self, group_id: str, member: str) -> bool:
        """Take `member` out of the group: from now on they read nothing of it. False if they were not in it."""
        with self._writer.begin() as conn:
            self._require_group(conn, int(group_id))
            n = conn.execute(
                members.delete().where(members.c.group_id == int(group_id), members.c.member == member)
            ).rowcount
        return bool(n)

    def post(self, group_id: str, post: TimelinePost, idempotency_key: str) -> str:
        with self._writer.begin() as conn:
            self._require_group(conn, int(group_id))
            return str(self._post_many(conn, [(int(group_id), post, idempotency_key)])[0])

    def read(self, group_id: str, member: str | None = None, *, whole_team_only: bool = False) -> list[dict[str, Any]]:
        """Posts oldest first; reading as a member shows only the posts their role's audience includes and
        records a read receipt for each. None reads as the connector's own account (every post), or, with
        `whole_team_only`, only the posts for the whole team (an operator who is not in the team)."""
        gid = int(group_id)
        with self._writer.begin() as conn:
            self._require_group(conn, gid)
            role: str | None = None
            if member is not None:
                role = self._role(conn, gid, member)
                if role is None:
                    raise RefusedError(f"{member} is not a member of timeline group {gid}")
            elif whole_team_only:
                role = ""
            q = sa.select(posts).where(posts.c.group_id == gid).order_by(posts.c.id)
            if role is not None:
                q = q.where(visible_to(posts.c.audience, role))
            rows = conn.execute(q).all()
            if member is not None and rows:
                now = time.time()
                _insert_ignore(conn, reads, [{"post_id": r.id, "member": member, "read_at": now} for r in rows])
            receipts: dict[int, list[dict[str, Any]]] = {}
            for post_id, who, at in conn.execute(
                sa.select(reads.c.post_id, reads.c.member, reads.c.read_at).where(
                    reads.c.post_id.in_([r.id for r in rows])
                )
            ).all():
                receipts.setdefault(post_id, []).append({"member": who, "read_at": at})
        return [_post_dict(r, receipts.get(r.id, [])) for r in rows]

    # -- queries for operators and the web page ---------------------------------------------------
    def group_for_patient(self, patient_id: str) -> str:
        with self._reader.connect() as conn:
            gid = conn.execute(sa.select(groups.c.id).where(groups.c.patient_id == patient_id)).scalar()
        if gid is None:
            raise NotFoundError(f"no timeline group for patient {patient_id}")
        return str(gid)

    def list_groups(self, member: str | None = None, *, whole_team_only: bool = False) -> list[dict[str, Any]]:
        """Groups newest activity first, with post counts and (for a member) unread counts, both counting
        only the posts the member's role may see (`whole_team_only`: only whole-team posts, for others)."""
        last = sa.func.max(posts.c.id).label("last_post")
        joined = posts.c.group_id == groups.c.id
        if member is None and whole_team_only:
            joined = sa.and_(joined, visible_to(posts.c.audience, ""))
        if member is not None:
            mine = members.alias("mine")
            role = sa.select(mine.c.role).where(mine.c.group_id == groups.c.id, mine.c.member == member)
            joined = sa.and_(joined, visible_to(posts.c.audience, role.scalar_subquery()))
        q = (
            sa.select(groups.c.id, groups.c.patient_id, groups.c.title, sa.func.count(posts.c.id).label("posts"), last)
            .select_from(groups.outerjoin(posts, joined))
            .group_by(groups.c.id)
            .order_by(last.desc().nulls_last(), groups.c.id)
        )
        if member is not None:
            q = q.where(groups.c.id.in_(sa.select(members.c.group_id).where(members.c.member == member)))
        with self._reader.connect() as conn:
            out = [dict(r._mapping) for r in conn.execute(q)]
            if member is not None:
                unread = dict(
                    conn.execute(
                        sa.select(posts.c.group_id, sa.func.count())
                        .select_from(posts.join(members, members.c.group_id == posts.c.group_id))
                        .where(members.c.member == member, visible_to(posts.c.audience, members.c.role))
                        .where(~sa.exists().where(reads.c.post_id == posts.c.id, reads.c.member == member))
                        .group_by(posts.c.group_id)
                    ).all()
                )
                for g in out:
                    g["unread"] = unread.get(g["id"], 0)
        return out

    def members_of(self, group_id: str) -> list[str]:
        return list(self.member_roles(group_id))

    def member_roles(self, group_id: str) -> dict[str, str]:
        """member -> team role ("" unknown), by name."""
        with self._reader.connect() as conn:
            q = sa.select(members.c.member, members.c.role).where(members.c.group_id == int(group_id))
            return dict(conn.execute(q.order_by(members.c.member)).all())

    def is_member(self, group_id: str, member: str) -> bool:
        with self._reader.connect() as conn:
            return self._role(conn, int(group_id), member) is not None

    def attachment_bytes(self, sha256: str) -> bytes:
        return (self._attachments / sha256).read_bytes()

    def attachment(
        self, group_id: str, post_id: int, index: int, member: str | None = None, *, whole_team_only: bool = False
    ) -> tuple[dict, bytes]:
        """(name, media_type, sha256, size) and the bytes of a post's attachment, for download: the post must be
        in the group (and, when `member` is given, they in it and in the post's audience; with
        `whole_team_only`, a post for the whole team); the bytes are checked against the stored SHA-256."""
        gid = int(group_id)
        with self._reader.connect() as conn:
            self._require_group(conn, gid)
            role = None if member is None else self._role(conn, gid, member)
            if member is not None and role is None:
                raise RefusedError(f"{member} is not a member of timeline group {gid}")
            q = sa.select(posts.c.attachments).where(posts.c.id == post_id, posts.c.group_id == gid)
            if role is not None:  # a post outside the member's audience does not exist for them
                q = q.where(visible_to(posts.c.audience, role))
            elif whole_team_only:
                q = q.where(posts.c.audience == TEAM)
            stored = conn.execute(q).scalar()
        if stored is None or not 0 <= index < len(stored):
            raise NotFoundError(f"no attachment {index} on post {post_id} of timeline group {gid}")
        meta = stored[index]
        data = self.attachment_bytes(meta["sha256"])
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise NotFoundError(f"attachment {index} of post {post_id}: the stored file does not match its SHA-256")
        return meta, data

    # -- internals --------------------------------------------------------------------------------
    def _ensure_group(self, conn: sa.Connection, patient_id: str, title: str = "") -> int:
        return self._ensure_groups(conn, [patient_id], title)[patient_id]

    def _ensure_groups(self, conn: sa.Connection, patient_ids: Sequence[str], title: str = "") -> dict[str, int]:
        """Group ids by patient, creating (invite-only, default members invited) those that are missing."""
        wanted = set(patient_ids)
        missing = wanted - self._group_ids.keys()
        for chunk in chunked(sorted(missing)):
            self._group_ids.update(
                conn.execute(sa.select(groups.c.patient_id, groups.c.id).where(groups.c.patient_id.in_(chunk))).all()
            )
        new = sorted(wanted - self._group_ids.keys())
        if new:
            now = time.time()
            rows = [{"patient_id": p, "title": title or p, "created_at": now} for p in new]
            result = conn.execute(groups.insert().returning(groups.c.id, sort_by_parameter_order=True), rows)
            created = dict(zip(new, (gid for (gid,) in result.all()), strict=True))
            teams = self._initial_teams(new)
            invites = [
                {"group_id": gid, "member": m, "invited_at": now, "role": role}
                for patient_id, gid in created.items()
                for m, role in [(SYSTEM_ACCOUNT, ""), *teams[patient_id]]
            ]
            _insert_ignore(conn, members, invites)
            self._group_ids.update(created)
        return {p: self._group_ids[p] for p in wanted}

    def _require_groups(self, conn: sa.Connection, gids: set[int]) -> None:
        known = set(self._group_ids.values())
        unknown = sorted(gids - known)
        for chunk in chunked(unknown):
            found = set(conn.execute(sa.select(groups.c.id).where(groups.c.id.in_(chunk))).scalars())
            missing = sorted(set(chunk) - found)
            if missing:
                raise NotFoundError(f"no timeline group {missing[0]}")

    def _require_group(self, conn: sa.Connection, gid: int) -> None:
        if conn.execute(sa.select(groups.c.id).where(groups.c.id == gid)).scalar() is None:
            raise NotFoundError(f"no timeline group {gid}")

    def _initial_teams(self, patient_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """The patients' care teams from the engine; the configured members when it keeps none."""
        teams = self._teams(patient_ids)
        if teams is None:
            return {p: [(m, "") for m in self.settings.members] for p in patient_ids}
        return teams

    @staticmethod
    def _role(conn: sa.Connection, gid: int, member: str) -> str | None:
        """The member's team role in the group ("" unknown); None when not a member."""
        q = sa.select(members.c.role).where(members.c.group_id == gid, members.c.member == member)
        row = conn.execute(q).first()
        return None if row is None else (row[0] or "")

    @staticmethod
    def _invite(conn: sa.Connection, gid: int, member: str, role: str | None = None) -> None:
        row = {"group_id": gid, "member": member, "invited_at": time.time(), "role": role or ""}
        upsert(conn, members, [row], ("group_id", "member"), ("role",) if role is not None else ())

    def _post_many(self, conn: sa.Connection, entries: Sequence[tuple[int, TimelinePost, str]]) -> list[int]:
        """Post each (group, post, key) once per key, in order, with a handful of statements per batch."""
        ids: dict[str, int] = {}
        for chunk in chunked([k for _, _, k in entries]):
            ids.update(
                conn.execute(
                    sa.select(posts.c.idempotency_key, posts.c.id).where(posts.c.idempotency_key.in_(chunk))
                ).all()
            )
        todo = [(i, gid, post, key) for i, (gid, post, key) in enumerate(entries) if key not in ids]
        # The post each new one replaces: the newest unreplaced one with its record key in its group.
        current: dict[tuple[int, str], tuple[int, str]] = {}  # -> (post id, its source version)
        for chunk in chunked(sorted({post.record_key for _, _, post, _ in todo if post.record_key})):
            q = sa.select(posts.c.group_id, posts.c.record_key, posts.c.id, posts.c.source_version).where(
                posts.c.record_key.in_(chunk), posts.c.replaced_by.is_(None)
            )
            for gid, record_key, pid, version in conn.execute(q.order_by(posts.c.id)):
                current[(gid, record_key)] = (pid, version)
        now = time.time()
        new_rows, seen_keys = [], set()
        for _i, gid, post, key in todo:
            if key in seen_keys:
                continue  # the same key twice in one batch: one post
            seen_keys.add(key)
            stored = [self._store_attachment(a.name, a.media_type, a.data) for a in post.attachments]
            new_rows.append(
                {
                    "group_id": gid,
                    "idempotency_key": key,
                    "author": post.author,
                    "text": post.text,
                    "tags": post.tags,
                    "links": post.links,
                    "attachments": stored,
                    "record_key": post.record_key,
                    "source_version": post.source_version,
                    "audience": post_audience(post, key),
                    "created_at": now,
                    "retracted_at": now if post.retracts else None,
                }
            )
        if new_rows:
            result = conn.execute(posts.insert().returning(posts.c.id, sort_by_parameter_order=True), new_rows)
            replaced = []
            for row, (new_id,) in zip(new_rows, result.all(), strict=True):
                ids[row["idempotency_key"]] = new_id
                if row["record_key"]:
                    slot = (row["group_id"], row["record_key"])
                    earlier = current.get(slot)
                    if earlier is not None and not row["retracted_at"] and _older(row["source_version"], earlier[1]):
                        # arrived late: stored (idempotent) but replaced at once by the newer current post
                        replaced.append({"pid": new_id, "by": earlier[0], "retracted": None})
                        continue
                    if earlier is not None:
                        replaced.append({"pid": earlier[0], "by": new_id, "retracted": row["retracted_at"]})
                    current[slot] = (new_id, row["source_version"])
            if replaced:
                conn.execute(
                    posts.update()
                    .where(posts.c.id == sa.bindparam("pid"))
                    .values(
                        replaced_by=sa.bindparam("by"),
                        retracted_at=sa.func.coalesce(sa.bindparam("retracted", type_=sa.Float), posts.c.retracted_at),
                    ),
                    replaced,
                )
        return [ids[k] for _, _, k in entries]

    def _store_attachment(self, name: str, media_type: str, data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        self._attachments.mkdir(parents=True, exist_ok=True)
        target = self._attachments / digest
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        return {"name": name, "media_type": media_type, "sha256": digest, "size": len(data)}


def _older(version: str, than: str) -> bool:
    """Whether `version` is known to be older than `than` (unknown versions never count as older)."""
    return bool(version and than and version < than)


def _target_group(payload: dict[str, Any], group_of: dict[str, int]) -> int:
    """The group the engine's registry linked (payload["group_id"]), else the patient's own."""
    return int(payload["group_id"]) if payload.get("group_id") else group_of[payload["patient_id"]]


def _insert_ignore(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    upsert(conn, table, rows, tuple(c.name for c in table.primary_key.columns), ())


def _post_dict(r: sa.Row, read_by: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": r.id,
        "author": r.author,
        "text": r.text,
        "tags": r.tags,
        "links": r.links,
        "attachments": r.attachments,
        "record_key": r.record_key,
        "created_at": r.created_at,
        "replaced_by": r.replaced_by,
        "source_version": r.source_version,
        "audience": r.audience,
        "retracted": r.retracted_at is not None,
        "read_by": read_by,
    }

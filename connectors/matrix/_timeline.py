"""MatrixTimeline: patient timelines as private, invite-only rooms on a Matrix homeserver.

Config:
    connectors:
      care-matrix:
        type: matrix
        homeserver: https://matrix.example.jp
        user_id: "@renkei:example.jp"
        token_env: RENKEI_MATRIX_TOKEN        # or token_file: /run/secrets/matrix-token
        members: ["@nurse.sato:example.jp"]  # invited to every new patient room (the team seed)
        accounts: {dr.tanaka: "@tanaka:example.jp"}  # care team member name -> Matrix id
        room_name_template: "{patient_id}"

One room per patient, found through a local map (SQLite in the data folder) and, if that is lost, through
the `jp.renkei.patient` state event every room carries (rescanning the bot's joined rooms), so restarts
never make a second room. Posts are sent with a transaction id derived from the idempotency key and the
local ledger is checked first, since Synapse only remembers transaction ids for a while.
Care teams and audience rooms (a second, restricted room per patient and audience): see `_teams`.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from renkei.connectors.base import ConnectorContext, TimelinePost
from renkei.connectors.matrix import _render, _teams
from renkei.connectors.matrix._http import MatrixHTTP, MatrixRequestError, q
from renkei.connectors.matrix._media import MediaLimits
from renkei.connectors.matrix._store import MatrixStore
from renkei.connectors.secrets import env_secret, file_secret
from renkei.errors import ConfigError, PermanentDeliveryError, RefusedError

log = logging.getLogger(__name__)

PATIENT_STATE = "jp.renkei.patient"  # our own state event type: which patient a room belongs to
CLIENT = "/_matrix/client/v3"


class MatrixForbiddenError(RefusedError):
    """The homeserver says this account may not see or do this (M_FORBIDDEN): e.g. not a room member."""


class MatrixSettings(BaseModel):
    model_config = {"extra": "forbid"}

    homeserver: str = Field(..., description="base URL, e.g. https://matrix.example.jp")
    user_id: str = Field(..., pattern=r"^@[^:]+:.+$", description="the bot account, e.g. @renkei:example.jp")
    token_env: str | None = Field(None, description="name of the environment variable holding the access token")
    token_file: Path | None = Field(None, description="file holding the access token")
    # The patient id, never the patient's name: room names are visible to homeserver admins, in room
    # previews and in push notifications on members' lock screens.
    room_name_template: str = Field("{patient_id}", description="room name; may use {patient_id} only")
    members: list[str] = Field(default_factory=list, description="Matrix ids invited to every new room")
    accounts: dict[str, str] = Field(
        default_factory=dict, description="care team member (console user name) -> Matrix id, e.g. @sato:example.jp"
    )
    history_visibility: Literal["shared", "invited"] = "shared"
    federate: bool = Field(True, description="allow members from other homeservers (m.federate)")
    encryption: bool = Field(False, description="not supported yet: renkei cannot send Megolm events")
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    attempts: int = Field(3, ge=1, le=10, description="quick in-call tries for repeatable requests")
    max_inline_wait: float = Field(2.0, ge=0, description="longest 429 wait done in the call (seconds)")

    @model_validator(mode="after")
    def _one_secret(self) -> MatrixSettings:
        if (self.token_env is None) == (self.token_file is None):
            raise ValueError("give exactly one of token_env or token_file (never the token itself)")
        if self.encryption:
            raise ValueError(
                "encryption: true is not supported yet (renkei cannot send end-to-end encrypted events); "
                "rely on TLS and the homeserver's storage encryption"
            )
        try:
            self.room_name_template.format(patient_id="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"room_name_template may use {{patient_id}} only: {exc!r}") from exc
        return self


def _read_secret(env: str | None, file: Path | None) -> str:
    if env is not None:
        return env_secret(env, setting="matrix token_env")
    assert file is not None
    return file_secret(file, setting="matrix token_file")


def txn_id(idempotency_key: str, part: str) -> str:
    """A client transaction id: stable per (post, part), opaque, URL-safe."""
    return "rk" + hashlib.sha256(f"{idempotency_key}\x00{part}".encode()).hexdigest()[:40]


class MatrixTimeline:
    """A Timeline on a Matrix homeserver, through the client-server API."""

    Settings = MatrixSettings
    supports_audiences = True  # a post for an audience reaches only its members (docs/teams.md)

    def __init__(self, name: str, settings: MatrixSettings, context: ConnectorContext) -> None:
        self.name = name
        self.settings = settings
        self.context = context
        self._http = MatrixHTTP(
            settings.homeserver,
            _read_secret(settings.token_env, settings.token_file),
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            attempts=settings.attempts,
            max_inline_wait=settings.max_inline_wait,
        )
        self._media = MediaLimits(self._http)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        self._store = MatrixStore(Path(context.data_dir) / f"matrix-{safe}.sqlite")
        self._lock_file = Path(context.data_dir) / f"matrix-{safe}.lock"

    def __repr__(self) -> str:
        return f"MatrixTimeline({self.name!r}, {self.settings.homeserver!r}, {self.settings.user_id!r})"

    def close(self) -> None:
        self._http.close()
        self._store.close()

    def __enter__(self) -> MatrixTimeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- Destination ------------------------------------------------------------------------------
    def deliver(self, payload: dict[str, Any], idempotency_key: str) -> str:
        done = self._store.receipt(idempotency_key)
        if done is not None:
            return done
        try:
            post = TimelinePost.from_dict(payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentDeliveryError(f"payload for key {idempotency_key} is not a TimelinePost: {exc!r}") from exc
        return self.post(post.group_id or self.ensure_group(post.patient_id), post, idempotency_key)

    # -- Timeline ---------------------------------------------------------------------------------
    def ensure_group(self, patient_id: str, title: str = "") -> str:
        """The patient's room id; created on first use. `title` is ignored on purpose (see room names)."""
        if not patient_id:
            raise PermanentDeliveryError("a post without a patient id has no room")
        room = self._store.room_for(patient_id)
        if room is not None:
            return room
        # Serialise find-or-create between processes sharing this data folder, so two workers seeing a
        # new patient at once still make one room (the second finds the first's room when it rescans).
        with self._lock_file.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            room = self._store.room_for(patient_id) or self._rescan(patient_id)
            return room if room is not None else self._create_room(patient_id)

    def invite(self, group_id: str, member: str) -> None:
        """Invite `member` (a Matrix id) unless already invited or joined."""
        try:
            state = self._http.call(
                "GET",
                f"{CLIENT}/rooms/{q(group_id)}/state/m.room.member/{q(member)}",
                what="get membership",
            )
            if state.get("membership") in ("invite", "join"):
                return
        except MatrixRequestError as exc:
            if exc.status != 404:
                raise
        self._http.call("POST", f"{CLIENT}/rooms/{q(group_id)}/invite", json={"user_id": member}, what="invite")
        self.context.audit("timeline.invite", self._store.patient_of(group_id), f"{self.name}: invited {member}")

    def add_member(self, group_id: str, member: str, role: str = "") -> None:
        """Invite a care team member (by name or Matrix id) to the patient's rooms their role may see."""
        _teams.add_member(self, group_id, member, role)

    def remove_member(self, group_id: str, member: str) -> bool:
        """Kick a care team member from every room of the patient (main and audience rooms)."""
        return _teams.remove_member(self, group_id, member)

    def post(self, group_id: str, post: TimelinePost, idempotency_key: str) -> str:
        """Send the post's events once per key; a repeat (or a resumed half-done post) sends nothing twice.
        A post for an audience other than the whole team goes to the patient's room for that audience."""
        done = self._store.receipt(idempotency_key)
        if done is not None:
            return done
        main_room, group_id = group_id, _teams.audience_room(self, group_id, post.audience)
        # the record's current post, in this room or (posted for another audience) in another of the patient's
        prev_room, previous = _teams.current_post(self, main_room, group_id, post.record_key)
        if post.retracts:
            receipt = self._retract(prev_room, post, idempotency_key, previous)
        elif previous is not None and post.source_version and previous[2] and post.source_version < previous[2]:
            receipt = previous[1]  # an older version arriving late never replaces the newer post: nothing sent
        else:
            receipt = self._send_post(group_id, post, idempotency_key)
            if previous is not None and previous[0] != idempotency_key:
                self._redact_post(prev_room, previous[0], idempotency_key, reason="replaced by a newer version")
                if prev_room != group_id:
                    self._store.forget_post(prev_room, post.record_key)
            if post.record_key:
                self._store.remember_post(group_id, post.record_key, idempotency_key, receipt, post.source_version)
        self._store.remember_delivery(idempotency_key, group_id, receipt)
        return receipt

    def read(
        self, group_id: str, member: str | None = None, *, access_token: str | None = None
    ) -> list[dict[str, Any]]:
        """Posts oldest first, as `member` sees them (their `access_token` is needed: it is their view).

        Raises MatrixForbiddenError (a RefusedError) if that account may not read the room.
        """
        if member is not None and member != self.settings.user_id and access_token is None:
            raise ConfigError(f"reading room {group_id} as {member} needs that member's access token")
        events: list[dict[str, Any]] = []
        params: dict[str, Any] = {"dir": "f", "limit": 100}
        try:
            while True:
                page = self._http.call(
                    "GET",
                    f"{CLIENT}/rooms/{q(group_id)}/messages",
                    params=params,
                    access_token=access_token,
                    what="read messages",
                )
                chunk = page.get("chunk") or []
                events.extend(chunk)
                if not chunk or not page.get("end"):
                    break
                params = {**params, "from": page["end"]}
        except MatrixRequestError as exc:
            if exc.status == 403:
                raise MatrixForbiddenError(f"{member or self.settings.user_id} may not read room {group_id}") from exc
            raise
        return _render.fold_events(events)

    # -- rooms ------------------------------------------------------------------------------------
    def _create_room(self, patient_id: str) -> str:
        initial_state: list[dict[str, Any]] = [
            {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "invite"}},
            {
                "type": "m.room.history_visibility",
                "state_key": "",
                "content": {"history_visibility": self.settings.history_visibility},
            },
            {"type": "m.room.guest_access", "state_key": "", "content": {"guest_access": "forbidden"}},
            # Part of the creation itself, so even a room whose createRoom reply was lost is found again.
            {"type": PATIENT_STATE, "state_key": "", "content": {"patient_id": patient_id, "connector": self.name}},
        ]
        body = {
            "preset": "private_chat",
            "visibility": "private",  # never published in the room directory
            "name": self.settings.room_name_template.format(patient_id=patient_id),
            "initial_state": initial_state,
            "invite": _teams.team_ids(self, patient_id),
            "creation_content": {"m.federate": self.settings.federate},
        }
        # Not repeatable: a timed-out createRoom may have succeeded; the next try finds it by rescanning.
        room_id = self._http.call("POST", f"{CLIENT}/createRoom", json=body, repeatable=False, what="createRoom")[
            "room_id"
        ]
        self._store.remember_room(room_id, patient_id)
        self.context.audit("timeline.create_group", patient_id, f"{self.name}: room {room_id}")
        log.info("matrix %s: created a patient room %s", self.name, room_id)
        return room_id

    def _rescan(self, patient_id: str) -> str | None:
        """Look through joined rooms not seen before for our patient tag; remember what each one is."""
        joined = self._http.call("GET", f"{CLIENT}/joined_rooms", what="joined_rooms").get("joined_rooms", [])
        known = self._store.known_rooms()
        for room_id in joined:
            if room_id in known:
                continue
            tagged: str | None = None
            try:
                content = self._http.call(
                    "GET", f"{CLIENT}/rooms/{q(room_id)}/state/{PATIENT_STATE}/", what="get patient tag"
                )
                value = content.get("patient_id")
                tagged = value if isinstance(value, str) and value else None
                audience = content.get("audience")
                if tagged and isinstance(audience, str) and audience not in ("", "team"):
                    self._store.remember_audience_room(tagged, audience, room_id)  # never the main room
                    tagged = None
            except MatrixRequestError as exc:
                if exc.status != 404:
                    raise
            self._store.remember_room(room_id, tagged)
        return self._store.room_for(patient_id)

    # -- sending ----------------------------------------------------------------------------------
    def _send(self, room_id: str, content: dict[str, Any], idempotency_key: str, part: str) -> str:
        known = self._store.part(idempotency_key, part)
        if known is not None:
            return known
        event_id = self._http.call(
            "PUT",
            f"{CLIENT}/rooms/{q(room_id)}/send/m.room.message/{txn_id(idempotency_key, part)}",
            json=content,
            what=f"send {part}",
        )["event_id"]
        self._store.remember_part(idempotency_key, part, event_id)
        return event_id

    def _upload(self, idempotency_key: str, index: int, name: str, media_type: str, data: bytes) -> str:
        part = f"upload:{index}"
        known = self._store.part(idempotency_key, part)
        if known is not None:
            return known
        self._media.check(index, name, len(data))
        mxc = self._http.call(
            "POST",
            "/_matrix/media/v3/upload",
            params={"filename": name},
            data=data,
            headers={"Content-Type": media_type or "application/octet-stream"},
            repeatable=False,
            what=f"upload attachment {index}",
        )["content_uri"]
        self._store.remember_part(idempotency_key, part, mxc)
        return mxc

    def _send_post(self, room_id: str, post: TimelinePost, key: str) -> str:
        post_id = txn_id(key, "post")
        receipt = self._send(room_id, _render.text_content(post, post_id), key, "0:text")
        for i, link in enumerate(post.links):
            self._send(room_id, _render.link_content(post, post_id, i, link), key, f"1:link:{i:03d}")
        for i, att in enumerate(post.attachments):
            mxc = self._upload(key, i, att.name, att.media_type, att.data)
            self._send(room_id, _render.file_content(post, post_id, i, att, mxc), key, f"2:file:{i:03d}")
        return receipt

    def _redact_post(self, room_id: str, old_key: str, key: str, reason: str) -> str:
        """Redact every event of an earlier post; returns the last redaction's event id."""
        last = ""
        for event_id in self._store.event_ids(old_key):
            part = f"redact:{event_id}"
            known = self._store.part(key, part)
            if known is not None:
                last = known
                continue
            last = self._http.call(
                "PUT",
                f"{CLIENT}/rooms/{q(room_id)}/redact/{q(event_id)}/{txn_id(key, part)}",
                json={"reason": reason},
                what="redact",
            )["event_id"]
            self._store.remember_part(key, part, last)
        return last

    def _retract(self, room_id: str, post: TimelinePost, key: str, previous: tuple[str, str] | None) -> str:
        if previous is None:
            raise PermanentDeliveryError(f"nothing to retract for record {post.record_key!r} in room {room_id}")
        receipt = self._redact_post(room_id, previous[0], key, reason="retracted at the source") or previous[1]
        self._store.forget_post(room_id, post.record_key)
        return receipt

    # -- notices to one person (connectors/matrix/_notices.py) ---------------------------------------
    def notify(self, user_id: str, text: str, idempotency_key: str) -> str:
        """An m.notice to one person in the bot's direct room with them (not a patient room)."""
        from renkei.connectors.matrix._notices import send_notice

        return send_notice(self, user_id, text, idempotency_key)

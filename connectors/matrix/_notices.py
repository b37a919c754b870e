"""Notices to one person: an m.notice in a direct room between renkei's bot and that person.

The direct room is found through the bot's `m.direct` account data (the standard place clients keep
"which room is my DM with whom"), created on first use (invite-only, trusted_private_chat, is_direct)
and recorded there, so a restart or a second renkei host reuses it. m.notice is the event type for
automated messages: well-behaved bots never answer it, and clients may notify it more quietly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from renkei.connectors.matrix._http import MatrixRequestError, q

if TYPE_CHECKING:
    from renkei.connectors.matrix._timeline import MatrixTimeline

CLIENT = "/_matrix/client/v3"


def direct_room(timeline: MatrixTimeline, user_id: str) -> str:
    """The bot's direct room with `user_id`, created (and recorded in m.direct) when there is none."""
    http, bot = timeline._http, timeline.settings.user_id
    path = f"{CLIENT}/user/{q(bot)}/account_data/m.direct"
    try:
        direct: dict[str, Any] = http.call("GET", path, what="get m.direct")
    except MatrixRequestError as exc:
        if exc.status != 404:  # 404: the bot has no direct rooms yet
            raise
        direct = {}
    joined = set(http.call("GET", f"{CLIENT}/joined_rooms", what="joined_rooms").get("joined_rooms", []))
    for room_id in direct.get(user_id, []):
        if room_id in joined:
            return str(room_id)
    body = {
        "preset": "trusted_private_chat",
        "visibility": "private",
        "is_direct": True,
        "invite": [user_id],
        "initial_state": [{"type": "m.room.guest_access", "state_key": "", "content": {"guest_access": "forbidden"}}],
    }
    room_id = str(http.call("POST", f"{CLIENT}/createRoom", json=body, repeatable=False, what="createRoom")["room_id"])
    direct[user_id] = [*direct.get(user_id, []), room_id]
    http.call("PUT", path, json=direct, what="put m.direct")
    return room_id


def send_notice(timeline: MatrixTimeline, user_id: str, text: str, idempotency_key: str) -> str:
    """Send `text` as an m.notice to `user_id`'s direct room, once per idempotency key; the event id."""
    room_id = direct_room(timeline, user_id)
    return timeline._send(room_id, {"msgtype": "m.notice", "body": text}, idempotency_key, "notice")

"""matrix-replies — the way back from Matrix: replies in patient rooms, read with the client-server `/sync`.

Config:
    connectors:
      care-matrix: {type: matrix, homeserver: …, user_id: "@renkei:example.jp", token_env: RENKEI_MATRIX_TOKEN}
      care-matrix-replies:
        type: matrix-replies
        homeserver: https://matrix.example.jp
        user_id: "@renkei:example.jp"        # the same bot account as the timeline
        token_env: RENKEI_MATRIX_TOKEN       # or token_file
        timeline: care-matrix                # whose room <-> patient map to use
    pipelines:
      - {name: matrix-replies, source: care-matrix-replies, destinations: [ehr-fhir], trigger: {event: true}}

A push source: `start(ingest)` runs one thread that long-polls `/sync` from the sync token kept in
`matrix-sync-<name>.json` in the data folder. Of each batch it keeps the `m.room.message` events (msgtype
m.text) sent by anyone but the bot, in rooms the Matrix timeline maps to a patient (its local map, else the
room's `jp.renkei.patient` state event); edits (m.replace) are not re-sent. It hands them to `ingest`
(stored durably, key `matrix/<event id>`) and only then writes the batch's `next_batch` token (write, fsync,
rename). A crash before the token is written re-reads the same events on restart: their keys are already in
the ledger, so they are acknowledged as duplicates and processed once. A `limited` timeline (more events
than one sync returns) is filled from `/messages` back to the previous token, so a long outage loses nothing.
A vitals report that cannot be read is answered in the room with an m.notice saying why (once per event).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from renkei.connectors.base import ConnectorContext, Ingest, Parsed
from renkei.connectors.matrix._http import MatrixHTTP, MatrixRequestError, q
from renkei.connectors.matrix._store import MatrixStore
from renkei.connectors.matrix._timeline import CLIENT, PATIENT_STATE, _read_secret, txn_id
from renkei.connectors.timeline_reply import InboundReply, parse_stored_reply, refusal_text
from renkei.errors import InputError, RenkeiError
from renkei.records import SourceItem

log = logging.getLogger(__name__)
ORIGIN = "matrix"
_FILTER = {
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {
        "timeline": {"limit": 100, "types": ["m.room.message"]},
        "state": {"types": []},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
}


class MatrixRepliesSettings(BaseModel):
    model_config = {"extra": "forbid"}
    homeserver: str
    user_id: str = Field(..., pattern=r"^@[^:]+:.+$")
    token_env: str | None = None
    token_file: Path | None = None
    timeline: str = Field(..., description="name of the matrix timeline connector whose rooms are read")
    poll_seconds: float = Field(25.0, ge=0, le=120, description="long-poll wait of each /sync")
    connect_timeout: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _one_secret(self) -> MatrixRepliesSettings:
        if (self.token_env is None) == (self.token_file is None):
            raise ValueError("give exactly one of token_env or token_file (never the token itself)")
        return self


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class MatrixReplies:
    Settings = MatrixRepliesSettings

    def __init__(self, name: str, settings: MatrixRepliesSettings, context: ConnectorContext) -> None:
        self.name = name
        self.settings = settings
        self.context = context
        self._http = MatrixHTTP(
            settings.homeserver, _read_secret(settings.token_env, settings.token_file),
            connect_timeout=settings.connect_timeout, read_timeout=settings.poll_seconds + 30,
        )  # fmt: skip
        data = Path(context.data_dir)
        self._rooms = MatrixStore(data / f"matrix-{_safe(settings.timeline)}.sqlite")
        self.token_path = data / f"matrix-sync-{_safe(name)}.json"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def close(self) -> None:
        self.stop()
        self._http.close()
        self._rooms.close()

    # -- the durable sync token ---------------------------------------------------------------------
    def load_token(self) -> str | None:
        try:
            return json.loads(self.token_path.read_text(encoding="utf-8")).get("next_batch") or None
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.token_path}: sync token file cannot be read ({type(exc).__name__})") from exc

    def save_token(self, token: str) -> None:
        tmp = self.token_path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump({"next_batch": token}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.token_path)
        dir_fd = os.open(self.token_path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    # -- PushSource ---------------------------------------------------------------------------------
    def start(self, ingest: Ingest) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, args=(ingest,), name=f"matrix-sync:{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            # A long poll in flight is not waited for: whatever it would store is read again after a restart
            # (the token moves only after the store has the batch), so stopping never loses an event.
            self._thread.join(timeout=2)
            self._thread = None

    def _loop(self, ingest: Ingest) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                self.sync_once(ingest, self.settings.poll_seconds)
                failures = 0
            except Exception as exc:  # the thread must live on: logged (type only, no content), retried
                failures += 1
                if failures == 1:
                    log.error("matrix-replies %s: sync failed (%s); retrying with backoff", self.name,
                              type(exc).__name__)  # fmt: skip
                log.debug("matrix-replies %s: sync failed", self.name, exc_info=True)
                self._stopping.wait(min(60.0, 2.0 ** min(failures, 6)))

    def sync_once(self, ingest: Ingest, poll_seconds: float = 0) -> int:
        """One /sync from the durable token: store the replies, then advance the token. Returns how many."""
        since = self.load_token()
        params: dict[str, Any] = {"timeout": int(poll_seconds * 1000), "filter": json.dumps(_FILTER)}
        if since:
            params["since"] = since
        body = self._http.call("GET", f"{CLIENT}/sync", params=params, what="sync")
        items: list[tuple[SourceItem, bytes]] = []
        for room_id, room in (body.get("rooms") or {}).get("join", {}).items():
            timeline = room.get("timeline") or {}
            events = list(timeline.get("events") or [])
            if timeline.get("limited") and since and timeline.get("prev_batch"):
                events = self._backfill(room_id, timeline["prev_batch"], since) + events
            items += self._items(room_id, events)
        if items:
            ingest(items)  # durably stored (or known duplicates) before the token moves on
        self.save_token(body["next_batch"])
        return len(items)

    def _backfill(self, room_id: str, start: str, since: str) -> list[dict[str, Any]]:
        """Events between the previous sync and this batch's start, oldest first."""
        older: list[dict[str, Any]] = []
        token = start
        while token:
            page = self._http.call(
                "GET", f"{CLIENT}/rooms/{q(room_id)}/messages",
                params={"from": token, "to": since, "dir": "b", "limit": 100,
                        "filter": json.dumps({"types": ["m.room.message"]})},
                what="messages (backfill)",
            )  # fmt: skip
            chunk = page.get("chunk") or []
            older += chunk
            token = page.get("end") if chunk else None
        return list(reversed(older))

    def _items(self, room_id: str, events: list[dict[str, Any]]) -> Iterator[tuple[SourceItem, bytes]]:
        patient: str | None = None
        for ev in events:
            content = ev.get("content") or {}
            if ev.get("type") != "m.room.message" or ev.get("sender") == self.settings.user_id:
                continue
            if content.get("msgtype") != "m.text" or not isinstance(content.get("body"), str):
                continue
            if (content.get("m.relates_to") or {}).get("rel_type") == "m.replace":
                continue  # an edit: the original was read already; edits are not sent again (docs/way-back.md)
            patient = patient if patient is not None else self.patient_of(room_id)
            if not patient:
                log.info("matrix-replies %s: a message in a room that is no patient's room was skipped", self.name)
                return
            sent = datetime.fromtimestamp(int(ev.get("origin_server_ts", 0)) / 1000, UTC).isoformat()
            reply = InboundReply(ORIGIN, str(ev["event_id"]), patient, str(ev["sender"]), content["body"], sent)
            key = f"{ORIGIN}/{ev['event_id']}"
            self.context.audit("timeline.reply.read", patient, f"{self.name}: {key} in {room_id}")
            yield SourceItem(key=key, fingerprint="1", group=room_id), reply.to_raw()

    def patient_of(self, room_id: str) -> str:
        """The room's patient: the Matrix timeline's own map, else the room's patient state event."""
        known = self._rooms.patient_of(room_id)
        if known:
            return known
        try:
            content = self._http.call("GET", f"{CLIENT}/rooms/{q(room_id)}/state/{PATIENT_STATE}/", what="patient tag")
        except MatrixRequestError as exc:
            if exc.status in (403, 404):
                return ""
            raise
        value = content.get("patient_id")
        return value if isinstance(value, str) else ""

    # -- Source (the stored replies) ----------------------------------------------------------------
    def scan(self) -> Iterator[SourceItem]:
        return iter(())  # a push source: everything arrives through start()

    def read(self, key: str) -> bytes:
        raise InputError(f"{key}: Matrix replies are kept in the store only; re-run the stored copy")

    def parse(self, key: str, raw: bytes) -> Parsed:
        return parse_stored_reply(raw, key, self._tell)

    def _tell(self, reply: InboundReply, key: str, reason: str) -> None:
        room_id = self._rooms.room_for(reply.patient_id)
        if room_id is None:
            return
        content = {
            "msgtype": "m.notice",
            "body": refusal_text(reason),
            "m.relates_to": {"m.in_reply_to": {"event_id": reply.event_id}},
        }
        try:
            self._http.call(
                "PUT", f"{CLIENT}/rooms/{q(room_id)}/send/m.room.message/{txn_id(key, 'refusal')}",
                json=content, what="send refusal notice",
            )  # fmt: skip
        except RenkeiError as exc:  # the refusal itself stands (quarantined with its reason); say so once
            log.error("matrix-replies %s: refusal notice not sent (%s)", self.name, type(exc).__name__)

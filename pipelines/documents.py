"""Document files from the stored raw input to the destination, without copies in between.

A Document record (renkei.records) carries no bytes, only `content`: where its file sits in the message's
stored raw input ("raw": the input is the file, as an SS-MIX2 `main_document.*`; any other locator, e.g.
"hl7v2:OBX/3", is resolved by the source connector's `document_content(key, raw, locator)`). So:

- transform puts a reference on the timeline post (`Attachment.content`, size, sha256): the delivery
  payload holds metadata only, never the file;
- just before a delivery is handed over, `FileResolver.resolve` reads the message's raw input once, takes
  the bytes out, checks their SHA-256 against the record's and puts them into the payload in memory
  (a timeline post's attachment `data`, a FHIR-bound document record's `data`);
- retention drops the raw input, and with it the only copy the store has of the file (`pruned` then says
  "documents"); a delivery that would need it afterwards is refused with that reason, never sent without
  its file.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from renkei.connectors.base import Attachment
from renkei.errors import PermanentDeliveryError
from renkei.mappings.content import EXTENSIONS
from renkei.pipelines.store import DueDelivery, Store
from renkei.records import RecordKind

RAW = "raw"
POST_ATTACHMENT = "post:attachments/"  # a level-3 push: the raw input is the post (JSON), its n-th attachment


def attachments_of(records: list[dict[str, Any]]) -> list[Attachment]:
    """A reference attachment per document record that has a file (not retracted)."""
    out = []
    for r in records:
        if r.get("kind") == RecordKind.DOCUMENT and r.get("content") and r.get("status") != "deleted":
            out.append(
                Attachment(
                    file_name(r), r.get("media_type") or "application/octet-stream",
                    content=r["content"], size=int(r.get("size") or 0), sha256=r.get("sha256", ""),
                )
            )  # fmt: skip
    return out


def file_name(record: dict[str, Any]) -> str:
    name = record.get("file_name") or ""
    if name and not name.startswith("main_document"):
        return name
    # "main_document.pdf" tells a reader nothing: name it by its title, with the extension of its content
    ext = EXTENSIONS.get(record.get("media_type", ""), name.rsplit(".", 1)[-1] if "." in name else "bin")
    title = "".join(c for c in (record.get("title") or "document") if c not in '\\/:*?"<>|\r\n\t').strip()
    return f"{title or 'document'}.{ext}"


def needs_files(payload: dict[str, Any]) -> bool:
    return any(a.get("content") and not a.get("data") for a in payload.get("attachments") or ()) or any(
        _document_with_file(r) for r in payload.get("records") or ()
    )


def _document_with_file(r: object) -> bool:
    """A document record (in a records payload) whose file is still to be put in."""
    return isinstance(r, dict) and r.get("kind") == RecordKind.DOCUMENT and bool(r.get("content")) and not r.get("data")


class FileResolver:
    """Puts document bytes into payloads just before delivery, from the messages' stored raw input."""

    def __init__(self, store: Store, source_of: Callable[[str], Any]) -> None:
        self.store = store
        self.source_of = source_of  # pipeline name -> its source connector (None when it has none)

    def resolve(self, d: DueDelivery, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload with every referenced file's bytes in it; PermanentDeliveryError when the stored raw
        input is gone (retention) or no longer holds the file the record names."""
        if not needs_files(payload):
            return payload
        msg, _ = self.store.get_message(d.message_id)
        if msg is None or (not msg.raw and "raw" in (msg.pruned or "")):
            raise PermanentDeliveryError(
                f"message {d.message_id}: its document file was pruned with the raw input (retention); not sent"
            )
        out = dict(payload)
        if payload.get("attachments"):
            atts = []
            for a in payload["attachments"]:
                if a.get("content") and not a.get("data"):
                    data = self._bytes(d, msg, a["content"], a.get("sha256", ""))
                    a = {**a, "data": base64.b64encode(data).decode("ascii")}
                atts.append(a)
            out["attachments"] = atts
        if payload.get("records"):
            recs = []
            for r in payload["records"]:
                if _document_with_file(r):
                    data = self._bytes(d, msg, r["content"], r.get("sha256", ""))
                    r = {**r, "data": base64.b64encode(data).decode("ascii")}
                recs.append(r)
            out["records"] = recs
        return out

    def _bytes(self, d: DueDelivery, msg: Any, locator: str, sha256: str) -> bytes:
        if locator == RAW:
            data = bytes(msg.raw)
        elif locator.startswith(POST_ATTACHMENT) and locator[len(POST_ATTACHMENT) :].isdigit():
            attachments = json.loads(bytes(msg.raw)).get("attachments") or []
            n = int(locator[len(POST_ATTACHMENT) :])
            if n >= len(attachments):
                raise PermanentDeliveryError(f"message {d.message_id}: the pushed post has no attachment {n}")
            data = base64.b64decode(attachments[n]["data"])
        else:
            source = self.source_of(d.pipeline)
            reader = getattr(source, "document_content", None)
            if reader is None:
                raise PermanentDeliveryError(
                    f"message {d.message_id}: no source can read the document at {locator!r} of its raw input"
                )
            data = reader(msg.source_key, bytes(msg.raw), locator)
        if sha256 and hashlib.sha256(data).hexdigest() != sha256:
            raise PermanentDeliveryError(
                f"message {d.message_id}: the document at {locator!r} no longer matches its SHA-256; not sent"
            )
        return data

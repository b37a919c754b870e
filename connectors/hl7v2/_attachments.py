"""Documents carried in results: OBX-2 ED (encapsulated data) and RP (reference pointer) to Document records.

    OBX|1|ED|18842-5^退院時サマリー^LN||^application^pdf^Base64^JVBERi0xLjcK…||||||F|||20240105103000|||…
    OBX|2|RP|18748-4^画像診断報告書^LN||https://pacs.example.jp/wado?…^PACS^image^jpeg||||||F

ED: OBX-5 is source application ^ type of data ^ data subtype ^ encoding (Base64, Hex, A = ASCII text) ^
data. The record keeps no bytes: `content` is "hl7v2:OBX/<n>" (the n-th OBX of the message), which
`document_bytes` reads back out of the stored message just before delivery, and `size`/`sha256` of the
decoded file. What the bytes are (and whether they may be sent) is decided by content by the connector
(mappings/content.py; the codec imports no codec beside it). Undecodable data is refused (`bad_document`,
naming OBX[n]-5.5 and the byte offset), never dropped.

RP: OBX-5 is pointer ^ application id ^ type of data ^ subtype. Only an http(s) pointer becomes the
document's `url`; any other (a file share path, a vendor scheme) is named in a warning and not followed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from renkei.records import Coding, Document

from ._context import Ctx
from ._defect import Defect, MessageError
from ._er7 import Message, Segment
from ._values import parse_dtm

LOCATOR_PREFIX = "hl7v2:OBX/"
_BASE64_ALPHABET = re.compile(r"[^A-Za-z0-9+/=]")
# HL7 table 0191 (type of referenced data) and 0291 (subtype) values senders use, to a MIME type.
_SUBTYPES = {
    "pdf": "application/pdf", "jpeg": "image/jpeg", "jpg": "image/jpeg", "png": "image/png", "gif": "image/gif",
    "x-hl7-cda-level-one": "application/hl7-cda+xml", "hl7-cda+xml": "application/hl7-cda+xml",
    "xml": "application/hl7-cda+xml",
    "vnd.openxmlformats-officedocument.wordprocessingml.document":
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "vnd.openxmlformats-officedocument.spreadsheetml.sheet":
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}  # fmt: skip


def declared_media_type(type_of_data: str, subtype: str) -> str:
    """The MIME type an ED/RP's type and subtype name ("" when they name none renkei knows)."""
    return _SUBTYPES.get(subtype.strip().lower(), "")


def _where(index: int) -> str:
    return f"OBX[{index}]" if index > 1 else "OBX"


def decode_ed(m: Message, obx: Segment, key: str, index: int) -> bytes:
    """The file an ED OBX-5 carries; MessageError `bad_document` naming the field when it cannot be decoded."""
    encoding = m.c(obx, 5, 4).strip().lower()
    data = m.c(obx, 5, 5)
    seg, fld = _where(index), f"{_where(index)}-5.5"
    try:
        if encoding in ("base64", "b64"):
            bad = _BASE64_ALPHABET.search(data.replace("\n", "").replace("\r", ""))
            if bad:
                raise ValueError(f"a {bad.group()!r} at character {bad.start()} is not base64")
            return base64.b64decode(data.replace("\n", "").replace("\r", ""), validate=True)
        if encoding == "hex":
            return bytes.fromhex(data)
        if encoding in ("a", "ascii", ""):
            return data.encode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise MessageError(Defect("bad_document", key, seg, fld, f"ED data is not valid {encoding}: {exc}")) from None
    raise MessageError(
        Defect("bad_document", key, seg, f"{_where(index)}-5.4", f"unknown ED encoding {m.c(obx, 5, 4)!r} "
               "(Base64, Hex or A)")
    )  # fmt: skip


def attached_document(ctx: Ctx, obx: Segment, order_no: str, fallback_time: str, index: int) -> Document:
    """A Document from an ED or RP OBX (the caller checked OBX-2)."""
    m = ctx.msg
    code = Coding(m.c(obx, 3, 1), m.c(obx, 3, 2), m.c(obx, 3, 3))
    when = m.c(obx, 14, 1) or fallback_time
    author = " ".join(p for p in (m.c(obx, 16, 2), m.c(obx, 16, 3)) if p)
    doc = Document(
        patient_id=ctx.pid,
        title=code.display or code.code or "文書",
        code=code if code.code else None,
        authored_at=parse_dtm(when),
        author=author,
        record_key=ctx.record_key(order_no or ctx.name.order_no, "document", code.code or str(index)),
        status=ctx.status,
        source=ctx.key,
    )
    if m.f(obx, 2) == "ED":
        data = decode_ed(m, obx, ctx.key, index)
        doc.media_type = declared_media_type(m.c(obx, 5, 2), m.c(obx, 5, 3))
        doc.content = f"{LOCATOR_PREFIX}{index}"
        doc.size, doc.sha256 = len(data), hashlib.sha256(data).hexdigest()
        return doc
    pointer = m.c(obx, 5, 1)
    doc.media_type = declared_media_type(m.c(obx, 5, 3), m.c(obx, 5, 4))
    if pointer.lower().startswith(("https://", "http://")):
        doc.url = pointer
    else:
        ctx.warn("bad_value", _where(index), f"{_where(index)}-5.1",
                 "RP pointer is not an http(s) URL; the referenced file is not fetched")  # fmt: skip
    return doc


def document_bytes(msg: Message, key: str, locator: str) -> bytes:
    """The file at `locator` ("hl7v2:OBX/<n>") of a split message; MessageError when it is not there."""
    if not locator.startswith(LOCATOR_PREFIX) or not locator[len(LOCATOR_PREFIX) :].isdigit():
        raise MessageError(Defect("bad_document", key, problem=f"not an HL7 v2 document locator: {locator!r}"))
    n = int(locator[len(LOCATOR_PREFIX) :])
    obx = [s for s in msg.segments if s[0] == "OBX" and any(s[1:])]  # as the handlers count them
    if not 1 <= n <= len(obx) or msg.f(obx[n - 1], 2) != "ED":
        raise MessageError(Defect("bad_document", key, _where(n), f"{_where(n)}-2", "no ED data at this OBX"))
    return decode_ed(msg, obx[n - 1], key, n)

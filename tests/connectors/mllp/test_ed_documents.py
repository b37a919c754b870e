"""HL7 v2 ED (encapsulated data) and RP (reference pointer) attachments over MLLP: the file reaches the
built-in timeline byte-equal, checked by content; bad data is refused (AE) and quarantined with the field."""

from __future__ import annotations

import base64
import socket

import sqlalchemy as sa
from support.documents import binary_pdf

from renkei.connectors.mllp.framing import FrameDecoder, frame
from renkei.pipelines.schema import messages


def oru_with(control_id: str, *obx: str) -> bytes:
    """An ORU^R01 (OMG-13 in SS-MIX2 terms) whose OBX carry documents; invented patient."""
    return (
        "\r".join(
            [
                f"MSH|^~\\&|HIS|SEND|RENKEI|RCV|20240402100000||ORU^R01^ORU_R01|{control_id}|P|2.5||||||UNICODE UTF-8",
                "PID|0001||9999013^^^^PI||山田^花子||19400312|F",
                "OBR|1|123456789012345||18842-5^退院時サマリー^LN|||20240402100000",
                *obx,
            ]
        )
        + "\r"
    ).encode("utf-8")


def _send(port: int, payload: bytes) -> list[str]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(frame(payload))
        d, got = FrameDecoder(), []
        while not got:
            got = d.feed(s.recv(65536))
    return got[0].decode("utf-8").split("\r")[1].split("|")  # MSA


def _ed(data: bytes, subtype: str = "pdf", n: int = 1) -> str:
    b64 = base64.b64encode(data).decode()
    value = f"^application^{subtype}^Base64^{b64}"
    return f"OBX|{n}|ED|18842-5^退院時サマリー^LN||{value}||||||F|||20240402093000||^田中^一郎"


def test_an_ed_pdf_reaches_the_timeline_byte_equal(running) -> None:
    engine, listener = running()
    pdf = binary_pdf()
    assert _send(listener.port, oru_with("ED1", _ed(pdf)))[1] == "AA"
    engine.process_pending("mllp-in")
    msg, (delivery,) = engine.store.get_message(1)
    (doc,) = msg.records
    assert (doc["kind"], doc["content"], doc["size"], doc["media_type"]) == (
        "document", "hl7v2:OBX/1", len(pdf), "application/pdf"
    )  # fmt: skip
    assert doc["author"] == "田中 一郎" and "data" not in delivery.payload["attachments"][0]
    tl = engine.connector("timeline")
    (post,) = tl.read(tl.group_for_patient("9999013"))
    (att,) = post["attachments"]
    assert att["name"] == "退院時サマリー.pdf" and tl.attachment_bytes(att["sha256"]) == pdf
    assert "退院時サマリー" in post["text"] and "1 件の記録" not in post["text"]


def _stored(engine) -> list[tuple[str, str]]:
    with engine.store.read() as conn:
        return [tuple(r) for r in conn.execute(sa.select(messages.c.state, messages.c.reason).order_by(messages.c.id))]


def test_ed_data_that_is_not_what_it_says_or_not_base64_is_quarantined_with_the_field(running) -> None:
    engine, listener = running()
    png = b"\x89PNG\r\n\x1a\n" + bytes(32)
    _send(listener.port, oru_with("ED2", _ed(png, "pdf")))
    bad = _ed(binary_pdf()).replace("^Base64^JVBER", "^Base64^JV*ER")
    _send(listener.port, oru_with("ED3", bad))
    engine.process_pending("mllp-in")
    (s1, r1), (s2, r2) = _stored(engine)
    assert s1 == "QUARANTINED" and "OBX/1: declared as application/pdf but the content is PNG" in r1
    assert s2 == "QUARANTINED" and "OBX-5.5" in r2 and "not base64" in r2


def test_an_rp_becomes_a_document_with_its_url(running) -> None:
    engine, listener = running()
    rp = "OBX|1|RP|18748-4^画像診断報告書^LN||https://pacs.example.jp/wado?study=1^PACS^image^jpeg||||||F"
    local = "OBX|2|RP|18748-4^画像診断報告書^LN||\\\\fileserver\\share\\x.jpg^PACS^image^jpeg||||||F"
    assert _send(listener.port, oru_with("RP1", rp, local))[1] == "AA"
    engine.process_pending("mllp-in")
    msg, _ = engine.store.get_message(1)
    first, second = msg.records
    assert (first["url"], first["media_type"], first["content"]) == (
        "https://pacs.example.jp/wado?study=1", "image/jpeg", ""
    )  # fmt: skip
    assert second["url"] == "" and any("RP pointer is not an http(s) URL" in w for w in msg.warnings)

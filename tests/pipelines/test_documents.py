"""Documents end to end: an SS-MIX2 extended-storage file reaches the built-in timeline as a downloadable
file, byte-equal, with a summary line; the store keeps one copy (the raw input), payloads only a reference."""

from __future__ import annotations

import hashlib
from pathlib import Path

from support.documents import PDF_KEY, PID, write_referral_pdf

from renkei.pipelines.schema import MessageState


def _posts(engine, patient_id: str) -> list[dict]:
    tl = engine.connector("timeline")
    return tl.read(tl.group_for_patient(patient_id))


def test_extended_storage_pdf_reaches_the_builtin_timeline_byte_equal(tmp_path: Path, make_engine) -> None:
    root = tmp_path / "storage"
    pdf = write_referral_pdf(root)
    engine = make_engine(root)
    stats = engine.run_pipeline(engine.pipeline("sync"))
    assert (stats.received, stats.sent, stats.quarantined) == (1, 1, 0)
    (post,) = _posts(engine, PID)
    assert post["text"].startswith("【文書】診療情報提供書")
    assert "・形式 PDF" in post["text"] and "1 件の記録" not in post["text"]
    (att,) = post["attachments"]
    assert att == {
        "name": "診療情報提供書.pdf", "media_type": "application/pdf",
        "sha256": hashlib.sha256(pdf).hexdigest(), "size": len(pdf),
    }  # fmt: skip
    assert engine.connector("timeline").attachment_bytes(att["sha256"]) == pdf
    # the store holds the file once, as the raw input; the delivery payload holds a reference only
    (msg,) = engine.store.list_messages()
    stored, (delivery,) = engine.store.get_message(msg.id)
    assert stored.raw == pdf
    (ref,) = delivery.payload["attachments"]
    assert "data" not in ref and ref["content"] == "raw" and ref["size"] == len(pdf)


def test_a_file_whose_content_is_not_what_its_name_says_is_quarantined(tmp_path: Path, make_engine) -> None:
    root = tmp_path / "storage"
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    write_referral_pdf(root, png)
    engine = make_engine(root)
    stats = engine.run_pipeline(engine.pipeline("sync"))
    assert (stats.quarantined, stats.sent) == (1, 0)
    (msg,) = engine.store.list_messages(state=MessageState.QUARANTINED)
    assert msg.reason.startswith(PDF_KEY) and "named .pdf (PDF) but its content is PNG" in msg.reason
    stored, _ = engine.store.get_message(msg.id)
    assert stored.raw == png  # kept, reprocessable
    assert _posts_or_none(engine) is None


def _posts_or_none(engine):
    from renkei.errors import NotFoundError

    try:
        return _posts(engine, PID)
    except NotFoundError:
        return None


FHIR_CONFIG = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  fhir: {{type: fhir, base_url: "http://127.0.0.1:9/fhir", facility_code: "1311234567"}}
pipelines:
  - name: sync
    source: ehr
    destinations: [fhir]
    gates: {{consent: false}}
    retry: {{max_attempts: 1, initial_backoff_seconds: 0.01, max_backoff_seconds: 0.05, jitter_seconds: 0}}
"""


def test_the_fhir_payload_gets_the_file_only_at_delivery(tmp_path: Path, make_engine) -> None:
    import base64

    from renkei.pipelines.store import DueDelivery

    root = tmp_path / "storage"
    pdf = write_referral_pdf(root)
    engine = make_engine(root, FHIR_CONFIG)
    engine.run_pipeline(engine.pipeline("sync"))  # the server is not there: the delivery waits to be retried
    (msg,) = engine.store.list_messages()
    _, (row,) = engine.store.get_message(msg.id)
    (record,) = row.payload["records"]
    assert record["content"] == "raw" and not record["data"]  # stored payload: a reference only
    due = DueDelivery(row.id, msg.id, "sync", "fhir", PID, 0, None, row.idempotency_key, row.payload)
    resolved = engine.delivery._files.resolve(due, row.payload)
    (doc_ref,) = engine.connector("fhir").resources_for(resolved)
    att = doc_ref["content"][0]["attachment"]
    assert base64.b64decode(att["data"]) == pdf and att["contentType"] == "application/pdf"


def test_retention_prunes_the_document_file_with_the_raw_input_and_messages_show_says_so(
    tmp_path: Path, make_engine, store_url: str
) -> None:
    from click.testing import CliRunner

    from renkei.bin.cli import main
    from renkei.config.schema import RetentionSettings
    from renkei.pipelines.retention import prune

    if not store_url.startswith("sqlite"):
        import pytest

        pytest.skip("the CLI opens the SQLite store of the data folder")
    root = tmp_path / "storage"
    pdf = write_referral_pdf(root)
    engine = make_engine(root)
    engine.run_pipeline(engine.pipeline("sync"))
    (msg,) = engine.store.list_messages()
    data = tmp_path / "data"

    def show() -> str:
        result = CliRunner().invoke(main, ["messages", "show", str(msg.id), "--data", str(data)])
        assert result.exit_code == 0, result.output
        return result.output

    before = show()
    assert f"document file: 診療情報提供書 (application/pdf, {len(pdf)} bytes" in before
    assert "kept in the raw input; retention prunes it with the raw input" in before
    report = prune(engine.store, {"sync": RetentionSettings(raw_days=30, payload_days=30)}, older_than_days=0)
    assert (report.raw_messages, report.document_messages, report.raw_bytes) == (1, 1, len(pdf))
    stored, (delivery,) = engine.store.get_message(msg.id)
    assert (stored.raw, stored.records, stored.pruned) == (b"", None, "raw,records,payloads,documents")
    assert delivery.payload == {}
    after = show()
    assert "raw, records, payloads, documents pruned on" in after
    assert "document files: pruned with the raw input on" in after and "no copy is left in the store" in after
    # the timeline keeps what it was given: the post's file is the care team's record, not the store's copy
    (post,) = _posts(engine, PID)
    assert engine.connector("timeline").attachment_bytes(post["attachments"][0]["sha256"]) == pdf


def test_an_ed_attachment_in_a_standard_storage_file_is_posted_byte_equal(tmp_path: Path, make_engine) -> None:
    import base64

    from support.documents import binary_pdf

    root = tmp_path / "storage"
    pdf = binary_pdf()
    b64 = base64.b64encode(pdf).decode()
    order = "123456789012345"
    msg = "\r".join([
        "MSH|^~\\&|HIS|SEND|RENKEI|RCV|20240402100000||ORU^R01^ORU_R01|C1|P|2.5||||||ISO IR87",
        f"PID|0001||{PID}^^^^PI",
        f"OBR|1|{order}||18842-5^退院時サマリー^LN|||20240402100000",
        f"OBX|1|ED|18842-5^退院時サマリー^LN||^application^pdf^Base64^{b64}||||||F|||20240402093000",
    ]) + "\r"  # fmt: skip
    key = f"999/901/{PID}/20240402/OMG-13/{PID}_20240402_OMG-13_{order}_20240402100000000_01_1"
    (root / key).parent.mkdir(parents=True)
    (root / key).write_bytes(msg.encode("iso2022_jp"))
    engine = make_engine(root)
    stats = engine.run_pipeline(engine.pipeline("sync"))
    assert (stats.sent, stats.quarantined) == (1, 0)
    (post,) = _posts(engine, PID)
    (att,) = post["attachments"]
    assert engine.connector("timeline").attachment_bytes(att["sha256"]) == pdf
    assert post["text"].startswith("【文書】退院時サマリー")


def test_a_pushed_office_file_is_stored_once_and_posted_byte_equal(tmp_path: Path, make_engine) -> None:
    import io
    import zipfile

    from renkei.connectors.base import Attachment, TimelinePost
    from renkei.pipelines.levels import check_attachment

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    docx = buf.getvalue()
    media_type = check_attachment("ケアプラン.docx", docx, len(docx))
    from datetime import date

    from renkei.pipelines.registry import PatientRegistry

    engine = make_engine(tmp_path / "storage")
    PatientRegistry(engine.store).set_consent(PID, True, ["timeline"], date(2026, 4, 1))
    plan = Attachment("ケアプラン.docx", media_type, docx)
    post = TimelinePost(patient_id=PID, text="ケアプラン", attachments=[plan])
    mid = engine.push("timeline", post, actor="cm.suzuki")
    _, (delivery,) = engine.store.get_message(mid)
    (ref,) = delivery.payload["attachments"]
    assert "data" not in ref and ref["content"] == "post:attachments/0" and ref["size"] == len(docx)
    (posted,) = _posts(engine, PID)
    (att,) = posted["attachments"]
    assert att["media_type"].endswith("wordprocessingml.document")
    assert engine.connector("timeline").attachment_bytes(att["sha256"]) == docx
    from renkei.config.schema import RetentionSettings
    from renkei.pipelines.retention import prune

    report = prune(engine.store, {"push": RetentionSettings(raw_days=30, payload_days=30)}, older_than_days=0)
    assert report.document_messages == 1
    assert engine.store.get_message(mid)[0].pruned == "raw,records,payloads,documents"

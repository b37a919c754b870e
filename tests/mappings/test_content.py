"""What a file is, by its bytes: the signatures, CDA by root element and namespace, Office Open XML by its
parts; refusals name the file and field and say what was found; light pushes accept Office documents."""

from __future__ import annotations

import io
import zipfile

import pytest
from support.documents import binary_pdf

from renkei.errors import InputError
from renkei.mappings import content as kinds
from renkei.pipelines.levels import MAX_ATTACHMENT_BYTES, check_attachment

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
GIF = b"GIF89a\x01\x00\x01\x00"


def ooxml(part: str, extra: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        for name in (part, *extra):
            z.writestr(name, "<x/>")
    return buf.getvalue()


DOCX = ooxml("word/document.xml")
XLSX = ooxml("xl/workbook.xml")


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (binary_pdf(), kinds.PDF),
        (b"\r\n" * 10 + b"%PDF-1.4\n", kinds.PDF),  # junk before the header within 1024 bytes is allowed
        (PNG, kinds.PNG),
        (JPEG, kinds.JPEG),
        (GIF, kinds.GIF),
        (b'\xef\xbb\xbf<?xml version="1.0"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"/>', kinds.CDA),
        (b'<!-- c --><v3:ClinicalDocument xmlns:v3="urn:hl7-org:v3"></v3:ClinicalDocument>', kinds.CDA),
        (b'<ClinicalDocument xmlns="urn:example"/>', kinds.XML),  # right name, wrong namespace
        (b'<html xmlns="urn:hl7-org:v3"/>', kinds.XML),
        (DOCX, kinds.DOCX),
        (XLSX, kinds.XLSX),
        (ooxml("ppt/presentation.xml"), None),  # PowerPoint: not accepted
        (b"PK\x03\x04not a zip", None),
        (b"MZ\x90\x00", None),
        (b"", None),
    ],
)
def test_identify_by_content(data: bytes, media_type: str | None) -> None:
    assert kinds.identify(data) == media_type


def test_check_refuses_with_file_field_and_what_was_found() -> None:
    where = "msg-7 OBX/2"
    with pytest.raises(kinds.ContentRefused, match=r"^msg-7 OBX/2: declared as application/pdf but the content is PNG"):
        kinds.check(PNG, where, declared="application/pdf")
    with pytest.raises(kinds.ContentRefused, match=r"content is no known file type \(starts with 4d 5a 90 00\)"):
        kinds.check(b"MZ\x90\x00", where)
    with pytest.raises(kinds.ContentRefused, match=r"XML that is not a CDA document"):
        kinds.check(b"<ClinicalDocument/>", where)
    with pytest.raises(kinds.ContentRefused, match=r"the file is 11 bytes .*; the limit is 10 bytes"):
        kinds.check(b"%PDF-1.4 xx", where, limit=10)
    with pytest.raises(kinds.ContentRefused, match=r"content is Word \(docx\); accepted are CDA, GIF, JPEG, PDF, PNG"):
        kinds.check(DOCX, where)  # a clinical source posts no Office files
    assert kinds.check(JPEG, where, declared="image/jpg") == kinds.Checked(kinds.JPEG, len(JPEG))


def test_light_push_accepts_office_documents_by_content_and_refuses_disguises() -> None:
    assert check_attachment("ケアプラン.docx", DOCX, len(DOCX)) == kinds.DOCX
    assert check_attachment("予定表.xlsx", XLSX, len(XLSX)) == kinds.XLSX
    assert check_attachment("写真", JPEG, len(JPEG)) == kinds.JPEG  # no name needed when the bytes tell
    assert check_attachment("メモ.txt", "本日訪問".encode(), 12) == "text/plain"
    with pytest.raises(InputError, match=r"^報告書\.pdf is named \.pdf \(PDF\) but its content is Word \(docx\)$"):
        check_attachment("報告書.pdf", DOCX, len(DOCX))
    with pytest.raises(InputError, match=r"^plan\.docx is named \.docx but its content is no Word \(docx\)"):
        check_attachment("plan.docx", b"PK\x03\x04broken", 10)
    with pytest.raises(InputError, match=r"^slides\.pptx is no accepted kind"):
        check_attachment("slides.pptx", ooxml("ppt/presentation.xml"), 100)
    with pytest.raises(InputError, match=r"holds binary data"):
        check_attachment("data.csv", b"a,b\x00c", 5)
    with pytest.raises(InputError, match=r"the limit is 20 MB per file"):
        check_attachment("big.pdf", b"%PDF-" + bytes(MAX_ATTACHMENT_BYTES), MAX_ATTACHMENT_BYTES + 5)

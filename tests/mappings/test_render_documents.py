"""The summary line of a document posted as a file: title, author, date, kind and the file, ja and en."""

from __future__ import annotations

from renkei.mappings.render import Renderer

DOC = {
    "kind": "document", "status": "current", "title": "診療情報提供書", "author": "田中 一郎",
    "authored_at": "2024-01-05T10:30:00+09:00",
    "code": {"code": "57133-1", "display": "診療情報提供書", "system": "LN"},
    "media_type": "application/pdf", "content": "raw", "size": 123456, "sha256": "ab" * 32, "url": "",
}  # fmt: skip


def _render(template: str, data_type: str, records: list[dict]) -> list[str]:
    return Renderer().render(template, data_type=data_type, records=records, patient=None).splitlines()


def test_extended_storage_document_summary_in_japanese() -> None:
    assert _render("auto", "EXT", [DOC]) == [
        "【文書】診療情報提供書　作成 田中 一郎　2024/01/05 10:30",
        "・文書種別 診療情報提供書（LN 57133-1）",
        "・形式 PDF（121 KB、添付ファイル）",
        "□文書",
    ]


def test_the_same_in_english_and_a_withdrawn_one_says_so() -> None:
    assert _render("EXT.en", "EXT", [DOC]) == [
        "[Document] 診療情報提供書 — by 田中 一郎 — 2024/01/05 10:30",
        "- Kind 診療情報提供書（LN 57133-1）",
        "- File PDF, 121 KB (attached)",
        "#document",
    ]
    withdrawn = {**DOC, "status": "deleted"}
    assert _render("auto", "EXT", [withdrawn])[0] == "【文書】（取消）診療情報提供書　作成 田中 一郎　2024/01/05 10:30"


def test_hl7_attachments_in_results_and_reference_pointers() -> None:
    rp = {**DOC, "content": "", "size": 0, "url": "https://pacs.example.jp/wado?study=1", "media_type": "image/jpeg",
          "author": "", "authored_at": None, "title": "画像診断報告書"}  # fmt: skip
    lines = _render("auto", "OMG-13", [DOC, rp])
    assert lines[0] == "【文書】診療情報提供書　作成 田中 一郎　2024/01/05 10:30"
    assert "【文書】画像診断報告書" in lines and "・形式 JPEG（参照先 https://pacs.example.jp/wado?study=1）" in lines
    assert not any("生理検査結果" in line for line in lines)  # no observations: no empty results heading
    assert _render("auto", "ORU^R01", [DOC]) == [
        "【ORU^R01】",
        "・文書 診療情報提供書　作成 田中 一郎　2024/01/05 10:30　（添付ファイル）",
    ]

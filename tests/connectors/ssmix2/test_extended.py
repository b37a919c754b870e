"""Extended storage: ORU^R30 vitals and CDA/PDF `main_document.*` files, read tolerantly.

A generated extended storage round-trips; hand-written CDA and PDF files check each Document field,
the defused XML parser's refusals and the precise position of malformed XML.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from renkei.bin.cmd_ssmix2 import ssmix2
from renkei.connectors.ssmix2 import ParseOptions, SSMIX2Error, SSMIX2Source, inspect_file, parse_file
from renkei.connectors.ssmix2.generator import Written, generate_full
from renkei.records import Coding, Document, Observation, Record, RecordStatus

PID = "9999013"
DAY = f"999/901/{PID}/20240105"
SUMMARY = "^退院時サマリー^^18842-5^退院時サマリー^LN"
CONTENT = f"{PID}_20240105_18842-5_000000000012345_20240105103000123_01_1"
CDA_KEY = f"{DAY}/{SUMMARY}/{CONTENT}/main_document.xml"
PDF_KEY = f"{DAY}/^診療情報提供書^^57133-1^診療情報提供書^LN/{PID}_20240105_57133-1_999999999999999_20240105110000000_01_1/main_document.pdf"  # noqa: E501

CDA = f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <code code="18842-5" codeSystem="2.16.840.1.113883.6.1" displayName="退院時サマリー"/>
  <title>退院時サマリー（内科）</title>
  <effectiveTime value="20240105103000+0900"/>
  <recordTarget><patientRole><id root="1.2.392.100495.20.3.51.11234567890" extension="{PID}"/></patientRole>
  </recordTarget>
  <component><structuredBody>
    <component><section><title>入院時診断</title>
      <text><list><item>誤嚥性肺炎</item><item>２型糖尿病</item></list></text></section></component>
    <component><section><title>経過</title>
      <text><paragraph>抗菌薬にて  加療。<content styleCode="Bold">解熱</content>を確認。</paragraph>
        <table><tr><th>検査</th><th>値</th></tr><tr><td>CRP</td><td>0.3</td></tr></table>
        <paragraph>退院後は訪問看護で<br/>経過観察。</paragraph></text>
      <component><section><title>退院時処方</title><text>なし</text></section></component>
    </section></component>
  </structuredBody></component>
</ClinicalDocument>
"""


def pdf_bytes() -> bytes:
    """A one-page PDF written by hand, cross-reference offsets computed."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for n, obj in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, obj)
    xref = len(out)
    out += b"xref\n0 4\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref


def doc_of(key: str, raw: bytes) -> Document:
    parsed = parse_file(key, raw)
    assert parsed.data_type == "EXT" and parsed.patient_id == PID and len(parsed.records) == 1
    doc = parsed.records[0]
    assert isinstance(doc, Document)
    return doc


def test_cda_becomes_a_document_with_flattened_narrative() -> None:
    doc = doc_of(CDA_KEY, CDA.encode())
    assert doc.title == "退院時サマリー（内科）"
    assert doc.code == Coding("18842-5", "退院時サマリー", "LN")
    assert doc.authored_at == datetime(2024, 1, 5, 10, 30, tzinfo=timezone(timedelta(hours=9)))
    assert doc.media_type == "application/hl7-cda+xml" and doc.path == CDA_KEY and doc.source == CDA_KEY
    assert doc.text.split("\n") == [
        "入院時診断", "誤嚥性肺炎", "２型糖尿病",
        "経過", "抗菌薬にて 加療。解熱を確認。", "検査 値", "CRP 0.3", "退院後は訪問看護で", "経過観察。",
        "退院時処方", "なし",
    ]  # fmt: skip
    assert doc.record_key == f"{PID}/EXT/000000000012345/document/18842-5"
    assert doc.status == RecordStatus.CURRENT and doc.warnings == []


def test_cda_without_code_or_title_takes_them_from_the_kind_folder() -> None:
    bare = CDA.replace('<code code="18842-5" codeSystem="2.16.840.1.113883.6.1" displayName="退院時サマリー"/>', "")
    bare = bare.replace("<title>退院時サマリー（内科）</title>", "")
    doc = doc_of(CDA_KEY.replace("_1/main", "_2/main"), bare.encode())
    assert (doc.title, doc.code) == ("退院時サマリー", Coding("18842-5", "退院時サマリー", "LN"))
    assert doc.status == RecordStatus.SUPERSEDED
    assert doc.record_key == f"{PID}/EXT/000000000012345/document/18842-5"  # the same fact as the _1


def test_cda_code_disagreeing_with_the_kind_folder_is_a_warning() -> None:
    other = CDA.replace('code="18842-5"', 'code="11506-3"')
    parsed = parse_file(CDA_KEY, other.encode())
    assert parsed.records[0].code == Coding("11506-3", "退院時サマリー", "LN")
    assert len(parsed.warnings) == 1 and "[data_type_mismatch]" in parsed.warnings[0]
    assert "CDA code 11506-3 but the kind folder says 18842-5" in parsed.warnings[0]


def test_shift_jis_cda_is_decoded() -> None:
    sjis = CDA.replace('encoding="UTF-8"', 'encoding="Shift_JIS"').encode("cp932")
    assert doc_of(CDA_KEY, sjis).title == "退院時サマリー（内科）"


def test_malformed_xml_is_quarantined_with_line_and_column() -> None:
    broken = CDA.replace("<title>退院時サマリー（内科）</title>", "<title>退院時サマリー（内科）</titel>")
    with pytest.raises(SSMIX2Error) as exc:
        parse_file(CDA_KEY, broken.encode())
    assert exc.value.kind == "bad_document"
    # line 5 is `  <title>退院時サマリー（内科）</titel>`: 2 spaces, 7 for <title>, 11 characters of text, then
    # `</`; expat points at the tag name `titel`, character 23 (1-based, characters rather than bytes)
    assert "malformed XML: mismatched tag at line 5, column 23" in str(exc.value)
    assert str(exc.value).startswith(CDA_KEY)


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',  # billion laughs
        '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>',  # external entity
    ],
)
def test_entity_declarations_are_refused(doctype: str) -> None:
    evil = CDA.replace("<ClinicalDocument", doctype + "\n<ClinicalDocument", 1)
    with pytest.raises(SSMIX2Error) as exc:
        parse_file(CDA_KEY, evil.encode())
    assert exc.value.kind == "bad_document"
    assert "XML declares an entity at line 2" in str(exc.value) and "refused" in str(exc.value)


def test_not_a_cda_and_cda_of_another_patient() -> None:
    with pytest.raises(SSMIX2Error, match=r"root element is <html>"):
        parse_file(CDA_KEY, b"<html><body>x</body></html>")
    other = CDA.replace(f'extension="{PID}"', 'extension="12345678"')
    with pytest.raises(SSMIX2Error) as exc:
        parse_file(CDA_KEY, other.encode())
    assert exc.value.kind == "patient_mismatch" and "12345678" not in str(exc.value)  # never the other id
    assert "the CDA's recordTarget names another patient than the patient folder" in str(exc.value)
    parsed = parse_file(CDA_KEY, other.encode(), ParseOptions(patient_mismatch="warn"))
    assert parsed.records[0].patient_id == PID and "[patient_mismatch]" in parsed.warnings[0]


def test_pdf_becomes_a_document_without_text() -> None:
    doc = doc_of(PDF_KEY, pdf_bytes())
    assert (doc.title, doc.code) == ("診療情報提供書", Coding("57133-1", "診療情報提供書", "LN"))
    assert (doc.media_type, doc.path, doc.text, doc.authored_at) == ("application/pdf", PDF_KEY, "", None)
    assert doc.record_key == f"{PID}/EXT/@20240105/document/57133-1"  # no order number: the care date
    with pytest.raises(SSMIX2Error) as exc:
        parse_file(PDF_KEY, b"GIF89a\x01\x00")
    assert exc.value.kind == "bad_document" and "named .pdf (PDF) but its content is GIF" in str(exc.value)
    with pytest.raises(SSMIX2Error) as exc:
        parse_file(PDF_KEY, b"%PD\x00junk")
    assert exc.value.kind == "bad_document" and "not a PDF" in str(exc.value) and "0x25 0x50 0x44" in str(exc.value)
    _, defects = inspect_file(PDF_KEY, pdf_bytes()[:-40])
    assert [d.kind for d in defects] == ["bad_value"] and "%%EOF" in defects[0].problem


def test_names_are_read_tolerantly() -> None:
    # an opaque content folder is the document's id; a percent-encoded kind folder still gives LOINC
    key = f"{DAY}/%5E%E9%80%80%E9%99%A2%E6%99%82%E3%82%B5%E3%83%9E%E3%83%AA%E3%83%BC%5E%5E18842-5%5E%5ELN/doc-0042/main_document.xml"  # noqa: E501
    doc = doc_of(
        key,
        CDA.replace(
            '<code code="18842-5" codeSystem="2.16.840.1.113883.6.1" displayName="退院時サマリー"/>', ""
        ).encode(),
    )
    assert doc.code == Coding("18842-5", "", "LN") and doc.record_key == f"{PID}/EXT/doc-0042/document/18842-5"
    # a file beside main_document is an attachment: no records, no defects
    parsed, defects = inspect_file(f"{DAY}/{SUMMARY}/{CONTENT}/figure1.png", b"\x89PNG\r\n")
    assert (parsed.records, defects, parsed.data_type) == ([], [], "EXT")
    # the content folder names another patient
    _, defects = inspect_file(CDA_KEY.replace(f"/{PID}_2024", "/1234567_2024"), CDA.encode())
    assert [d.kind for d in defects] == ["wrong_folder"]


def comparable(records: list[Record]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.to_dict().items() if k != "warnings"} for r in records]


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Written]]:
    root = tmp_path_factory.mktemp("ext")
    return root, generate_full(root, patients=60, seed=3, types=["ADT-00"], conditions=True, extended=True)


def test_generated_extended_storage_round_trips(extended: tuple[Path, list[Written]]) -> None:
    root, written = extended
    src = SSMIX2Source("ext", SSMIX2Source.Settings(root=root))
    expected = {w.key: comparable(w.records) for w in written}
    n = 0
    for item in src.scan():
        parsed = src.parse(item.key, src.read(item.key))
        assert parsed.warnings == [] and comparable(parsed.records) == expected[item.key], item.key
        n += 1
    assert n == len(written)
    records = [r for w in written for r in w.records]
    media = {r.media_type for r in records if isinstance(r, Document)}
    assert media == {"application/hl7-cda+xml", "application/pdf"}
    vitals = [r for r in records if isinstance(r, Observation) and "/EXT/" in r.record_key]
    assert {v.code.code for v in vitals} >= {"9A751000000000001", "9A761000000000001", "3H065000000000001"}
    # several readings a day (morning and evening) never share a key
    assert len({v.record_key for v in vitals}) == len(vitals)
    result = CliRunner().invoke(ssmix2, ["check", str(root), "--json"])
    assert result.exit_code == 0, result.output[:2000]
    summary = json.loads(result.output)
    assert summary["defects"] == [] and summary["by_data_type"]["EXT"]["records"] == sum(
        len(w.records) for w in written if w.key.split("/")[4] not in ("ADT-00",)
    )

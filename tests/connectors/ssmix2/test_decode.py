"""Tolerant ISO-2022-JP decoding and the four distinct fatal reasons."""

from __future__ import annotations

import pytest

from renkei.connectors.hl7v2 import decode_iso2022jp as decode
from renkei.connectors.ssmix2 import SSMIX2Error, parse_file

KEY = "999/901/9999013/-/ADT-00/9999013_-_ADT-00_999999999999999_20111220224447339_-_1"


def _adt(name: str = "患者^太郎") -> bytes:
    text = (
        "MSH|^~\\&|H|S|G|R|20111220224447||ADT^A08^ADT_A01|1|P|2.5||||||~ISO IR87||ISO 2022-1994\r"
        f"PID|0001||9999013^^^^PI||{name}^^^^^L^I||19480405|M\r"
    )
    return text.encode("iso2022_jp")


def test_strict_iso2022jp_needs_no_fallback() -> None:
    assert decode("患者".encode("iso2022_jp"), "f") == ("患者", [])


def test_nec_special_characters_decode_through_cp932() -> None:
    # ① is JIS row 13 (0x2d21), an NEC extension Python's iso2022_jp* codecs refuse
    raw = b"A\x1b$B\x2d\x21\x1b(BZ"
    text, defects = decode(raw, "f")
    assert text == "A①Z"
    assert [d.kind for d in defects] == ["decode_fallback"]


def test_half_width_katakana_via_iso2022_jp_ext() -> None:
    raw = b"\x1b(I\x36\x1b(B"  # ｶ
    text, defects = decode(raw, "f")
    assert text == "ｶ"
    assert "iso2022_jp_ext" in defects[0].problem


def test_user_defined_gaiji_becomes_black_square_with_warning() -> None:
    raw = b"\x1b$B\x30\x65\x75\x21\x1b(B"  # 医 then a user-defined (外字) character
    text, defects = decode(raw, "f")
    assert text == "医■"
    assert any("外字" in d.problem and d.offset == 5 for d in defects)


def test_undecodable_bytes_name_the_offset() -> None:
    raw = _adt().replace(b"\x1b$B45", b"\x1b$B\x7f\x7f")
    with pytest.raises(SSMIX2Error) as exc:
        parse_file(KEY, raw)
    assert exc.value.kind == "undecodable"
    offset = _adt().index(b"\x1b$B45") + 3
    assert exc.value.defect.offset == offset
    assert f"at byte {offset}" in str(exc.value) and KEY in str(exc.value)


def test_replace_option_turns_undecodable_into_warning() -> None:
    from renkei.connectors.ssmix2 import ParseOptions

    raw = _adt().replace(b"\x1b$B45", b"\x1b$B\x7f\x7f")
    parsed = parse_file(KEY, raw, ParseOptions(replace_undecodable=True))
    assert parsed.records[0].name_kanji.startswith("■")
    assert any("[decode_fallback]" in w for w in parsed.warnings)


@pytest.mark.parametrize(
    ("raw", "kind", "phrase"),
    [
        (b"", "empty_file", "empty file"),
        (b"\r\n\x1c", "empty_file", "empty file"),
        (b"\xfb\xfc", "not_hl7", "0xfb 0xfc"),
        (b"<ClinicalDocument/>\r", "not_hl7", "not an HL7 v2 message"),
        (_adt()[: _adt().index(b"\x1b$B45") + 4], "truncated", "ends inside a two-byte JIS character"),
        (_adt()[: _adt().index(b"||\x1b$B45")], "truncated", "ends before required PID-5"),
        (_adt()[: _adt().index(b"\x1b$B45") + 2], "truncated", "ends inside a JIS escape sequence"),
        (_adt()[: _adt().index(b"\x1b$B45") + 5], "truncated", "ends inside a two-byte JIS run"),
        (_adt().replace(b"|M\r", b"|M\\X0D"), "truncated", "escape sequence opened"),
        (_adt().split(b"\rPID")[0] + b"\r", "truncated", "no PID segment"),
        (b"MSH|^~\\&|H|S\r", "truncated", "MSH ends before the message type"),
    ],
)
def test_fatal_reasons_are_distinct(raw: bytes, kind: str, phrase: str) -> None:
    with pytest.raises(SSMIX2Error) as exc:
        parse_file(KEY, raw)
    assert exc.value.kind == kind
    assert phrase in str(exc.value)
    assert str(exc.value).startswith(KEY)
    assert "患者" not in str(exc.value) and "19480405" not in str(exc.value)


def test_msh18_and_msh20_spellings_are_both_accepted() -> None:
    for charset, iso in (("~ISO IR87", "ISO 2022-1994"), ("~ISOIR87", "ISO2022-1994")):
        raw = _adt().replace(b"~ISO IR87||ISO 2022-1994", f"{charset}||{iso}".encode())
        parsed = parse_file(KEY, raw)
        assert parsed.warnings == []
        assert parsed.records[0].name_kanji == "患者 太郎"

"""Each conversion on the edge cases that break naive implementations."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renkei.mappings import MappingValueError, _dates, _text, _units
from renkei.mappings._convert import REGISTRY


def conv(name: str, value: object, **args: object) -> object:
    """Run a registered conversion with its arguments validated like a spec's `convert:` step."""
    c = REGISTRY[name]
    model = c.args.model_validate(args) if c.args else None
    dumped = {**model.model_dump(), "_set": frozenset(model.model_fields_set)} if model else {}
    return c.fn(value, dumped)


# --- age_at ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "at", "legal", "birthday"),
    [
        (date(1970, 4, 5), date(2024, 4, 3), 53, 53),
        (date(1970, 4, 5), date(2024, 4, 4), 54, 53),  # law: age reached the day before the birthday
        (date(1970, 4, 5), date(2024, 4, 5), 54, 54),
        (date(2000, 2, 29), date(2001, 2, 27), 0, 0),
        (date(2000, 2, 29), date(2001, 2, 28), 1, 0),  # 民法143条2項: the year ends on Feb 28
        (date(2000, 2, 29), date(2001, 3, 1), 1, 1),
        (date(2000, 2, 29), date(2004, 2, 28), 4, 3),  # leap year: the day before Feb 29
        (date(2000, 2, 29), date(2004, 2, 29), 4, 4),
        (date(2018, 4, 1), date(2024, 3, 31), 6, 5),  # born 1 April: six on 31 March (school entry)
        (date(2024, 1, 1), date(2024, 1, 1), 0, 0),
    ],
)
def test_age_at_legal_and_birthday_rules(birth: date, at: date, legal: int, birthday: int) -> None:
    assert _dates.age_at(birth, at, "legal") == legal
    assert _dates.age_at(birth, at, "birthday") == birthday


def test_age_at_conversion_parses_hl7_and_iso_and_refuses_future_birth() -> None:
    assert conv("age_at", "19700405", at="2024-04-04") == 54
    assert conv("age_at", "1970-04-05", at="20240403", rule="birthday") == 53
    with pytest.raises(MappingValueError, match="before the birth date"):
        conv("age_at", "2025-01-01", at="2024-01-01")


# --- dates -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2020, 1, 1), "令和2年1月1日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1926, 12, 24), "大正15年12月24日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
        (date(1912, 7, 29), "明治45年7月29日"),
        (date(1912, 7, 30), "大正元年7月30日"),
        (date(1873, 1, 1), "明治6年1月1日"),
    ],
)
def test_japanese_era_boundaries(day: date, expected: str) -> None:
    assert _dates.format_when(day, "{era}{era_year_gannen}年{month}月{day}日") == expected


def test_era_initial_and_numeric_year_and_pre_gregorian_refusal() -> None:
    assert conv("date_format", "20190501", to="{era_initial}{era_year}.%m.%d") == "R1.05.01"
    with pytest.raises(MappingValueError, match="lunisolar"):
        _dates.era_of(date(1872, 12, 31))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2011", date(2011, 1, 1)),
        ("201112", date(2011, 12, 1)),
        ("20111219", date(2011, 12, 19)),
        ("201112191500", datetime(2011, 12, 19, 15, 0)),
        ("20111220103059.0000", datetime(2011, 12, 20, 10, 30, 59)),
        ("20111220103059.12", datetime(2011, 12, 20, 10, 30, 59, 120000)),
        ("2011-12-19", date(2011, 12, 19)),
        ("2011-12-19T15:00:00", datetime(2011, 12, 19, 15, 0)),
    ],
)
def test_parse_hl7_ts_and_iso(text: str, expected: date) -> None:
    assert _dates.parse_when(text) == expected


def test_hl7_ts_with_offset_and_formats() -> None:
    when = _dates.parse_when("201112191500+0900")
    assert when.utcoffset().total_seconds() == 9 * 3600  # type: ignore[union-attr]
    assert conv("date_format", "201112191500", to="iso", assume_tz="Asia/Tokyo") == "2011-12-19T15:00:00+09:00"
    assert conv("date_format", "2024-05-01T00:30:00Z", tz="Asia/Tokyo") == "2024-05-01T09:30:00+09:00"
    assert conv("date_format", "2011-12-19", to="hl7") == "20111219"
    assert conv("date_format", "2011-12-19T15:00:00", to="%Y/%m/%d %H:%M") == "2011/12/19 15:00"
    for bad in ("20111332", "2011-13-01", "yesterday"):
        with pytest.raises(MappingValueError):
            _dates.parse_when(bad)


# --- units -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "src", "dst", "analyte", "expected"),
    [
        (16.0, "kPa", "mmHg", None, 120.01),
        (120.0, "mm[Hg]", "kPa", None, 16.0),
        (132.3, "lb", "kg", None, 60.01),
        (98.6, "°F", "℃", None, 37.0),
        (37.0, "Cel", "[degF]", None, 98.6),
        (7.2, "mmol/L", "mg/dl", "glucose", 129.71),
        (99.0, "mg/dL", "mmol/l", "glucose", 5.5),
        (7.2, "g/dl", "g/dL", None, 7.2),
    ],
)
def test_unit_factors(value: float, src: str, dst: str, analyte: str | None, expected: float) -> None:
    assert round(_units.convert_unit(value, src, dst, analyte), 2) == expected


def test_substance_units_need_an_analyte_and_unknown_pairs_fail() -> None:
    with pytest.raises(MappingValueError, match="need `analyte`"):
        _units.convert_unit(5.5, "mmol/L", "mg/dL")
    with pytest.raises(MappingValueError, match="no conversion from unit 'kg' to 'mmHg'"):
        _units.convert_unit(60, "kg", "mmHg", "glucose")
    with pytest.raises(MappingValueError, match="not a number"):
        conv("unit", "測定不能", **{"from": "kPa", "to": "mmHg"})


# --- width and kana ----------------------------------------------------------------------------------


def test_half_width_composes_dakuten_and_leaves_kanji_alone() -> None:
    assert _text.to_half_width("ガギグゲゴ パピプペポ ヴ") == "ｶﾞｷﾞｸﾞｹﾞｺﾞ ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ ｳﾞ"
    assert _text.to_half_width("ＡＢＣ１２３！　ー") == "ABC123! ｰ"
    # CJK compatibility ideograph 神 (U+FA19) and 髙 must survive; NFKC would rewrite U+FA19.
    assert _text.to_half_width("\ufa19奈川 髙橋①") == "\ufa19奈川 髙橋①"
    assert _text.to_half_width("ひらがな") == "ひらがな"  # no half-width hiragana exists


def test_full_width_composes_voicing_marks() -> None:
    assert _text.to_full_width("ｶﾞｯｺｳ ﾊﾟﾝ ｳﾞｧｲｵﾘﾝ") == "ガッコウ\u3000パン\u3000ヴァイオリン"
    assert _text.to_full_width("ｱﾞ") == "ア゛"  # no precomposed letter: keep the mark as a mark
    assert _text.to_full_width("abc-123") == "ａｂｃ－１２３"


def test_width_classes_select_what_changes() -> None:
    assert conv("width", "登呂１−３−５　ＡＢＣ", to="half", only=["digit"]) == "登呂1−3−5　ＡＢＣ"
    assert conv("width", "ｶﾀｶﾅ 123", to="full", only=["katakana"]) == "カタカナ 123"


def test_round_trip_of_all_half_width_katakana() -> None:
    half = "".join(chr(c) for c in range(0xFF66, 0xFF9E))  # ｦ … ﾝ
    assert _text.to_half_width(_text.to_full_width(half)) == half


def test_kana_conversion() -> None:
    assert conv("kana", "かんじゃ　たろう ゔ ゝ", to="katakana") == "カンジャ　タロウ ヴ ヽ"
    assert conv("kana", "カンジャ ヴ ヶ ヷ", to="hiragana") == "かんじゃ ゔ ゖ ヷ"


# --- truncate / pad ----------------------------------------------------------------------------------


def test_byte_truncation_never_splits_a_character() -> None:
    text = "aあいう"  # cp932: 1 + 2 + 2 + 2 bytes
    assert conv("truncate", text, length=4, unit="bytes") == "aあ"  # 'い' would need bytes 4-5
    assert conv("truncate", text, length=5, unit="bytes") == "aあい"
    assert conv("truncate", text, length=6, unit="bytes", encoding="utf-8") == "aあ"  # 3 bytes each in UTF-8
    assert conv("truncate", "ｶﾞｷﾞ", length=3, unit="bytes") == "ｶﾞ"  # the voicing mark stays with its letter
    assert conv("truncate", "ｶﾞｷﾞ", length=3) == "ｶﾞｷﾞ"  # chars: a letter + mark counts as one
    assert conv("truncate", "ｶﾞｷﾞ", length=1) == "ｶﾞ"


def test_byte_truncation_refuses_unencodable_text() -> None:
    with pytest.raises(MappingValueError, match="cannot be encoded in cp932"):
        conv("truncate", "血圧😀", length=10, unit="bytes")


def test_pad_by_chars_and_bytes() -> None:
    assert conv("pad", "123", length=6, side="left", char="0") == "000123"
    assert conv("pad", "あ", length=6, unit="bytes", char="　") == "あ\u3000\u3000"
    assert conv("pad", "長い文字列", length=2) == "長い文字列"
    with pytest.raises(MappingValueError, match="cannot pad to exactly 5 bytes"):
        conv("pad", "あ", length=5, unit="bytes", char="　")


# --- names, strings, lists ---------------------------------------------------------------------------


def test_name_choice_prefers_and_falls_back() -> None:
    assert conv("name_choice", ["患者 太郎", "カンジャ タロウ"], prefer="kana") == "カンジャ タロウ"
    assert conv("name_choice", ["", "カンジャ タロウ"], prefer="kanji") == "カンジャ タロウ"
    assert conv("name_choice", ["", "カンジャ タロウ"], prefer="kanji", fallback=False) is None
    with pytest.raises(MappingValueError, match="name_choice needs"):
        conv("name_choice", "患者 太郎")


def test_small_string_and_list_conversions() -> None:
    assert REGISTRY["strip"].fn("\u3000患者 ", {}) == "患者"
    assert REGISTRY["upper"].fn("abc", {}) == "ABC"
    assert conv("join", ["03", "", "1234"], sep="-") == "03-1234"
    assert conv("split", "患者　太郎") == ["患者", "太郎"]
    assert conv("split", "a^b^c", sep="^", index=1) == "b"
    assert conv("format", ["x", 1], pattern="{}/{}") == "x/1"
    assert conv("round", "80.26", digits=1) == 80.3
    assert conv("string", 36.0) == "36"
    assert REGISTRY["number"].fn("120", {}) == 120
    assert REGISTRY["number"].fn("7.2", {}) == 7.2
    assert (
        conv("hash", ["a", "b"], length=8) == conv("hash", ["a", "b"], length=8) != conv("hash", ["b", "a"], length=8)
    )
    with pytest.raises(MappingValueError, match="not a whole number"):
        REGISTRY["integer"].fn("7.5", {})


_CP932_TEXT = st.text(alphabet=st.sampled_from("aZ9 ｱｶﾞﾊﾟあいうガパ漢字髙　１ー−"), max_size=40)


@given(_CP932_TEXT, st.integers(min_value=0, max_value=50))
def test_byte_truncation_is_the_longest_whole_prefix(text: str, length: int) -> None:
    cut = _text.truncate(text, length, "cp932")
    assert text.startswith(cut)
    assert len(cut.encode("cp932")) <= length
    rest = text[len(cut) :]
    if rest:
        unit = _text._clusters(rest)[0]
        assert len((cut + unit).encode("cp932")) > length  # the next whole character would not fit
        assert not (cut and unit[0] in "\uff9e\uff9f")  # never cut between a letter and its voicing mark


@given(_CP932_TEXT)
def test_width_round_trip_keeps_kanji_and_hiragana(text: str) -> None:
    half = _text.to_half_width(text)
    assert [c for c in half if "\u4e00" <= c <= "\u9fff" or "\u3041" <= c <= "\u3096"] == [
        c for c in text if "\u4e00" <= c <= "\u9fff" or "\u3041" <= c <= "\u3096"
    ]
    assert _text.to_half_width(_text.to_full_width(half)) == half

"""The vitals text convention of the way back (mappings/vital_text.py, code table sns_vital_text)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from renkei.mappings.vital_text import VitalTextError, is_vital_text, read_vital_text

JST = timezone(timedelta(hours=9))
AT = datetime(2024, 4, 1, 9, 30, tzinfo=JST)


def _read(text: str):
    return read_vital_text(text, patient_id="P1", measured_at=AT, reporter="nurse.sato", record_key="builtin/7")


def test_the_convention_reads_every_item_with_its_code_unit_and_reporter() -> None:
    readings = _read("BT 36.8 BP 120/80 P 72 SpO2 97 RR 16")
    assert [(o.code.code, o.code.system, o.value, o.unit, o.normalized_unit) for o in readings] == [
        ("19292", "MDC", "36.8", "MDC_DIM_DEGC", "Cel"),
        ("18949", "MDC", "120", "MDC_DIM_MMHG", "mm[Hg]"),
        ("18950", "MDC", "80", "MDC_DIM_MMHG", "mm[Hg]"),
        ("18474", "MDC", "72", "MDC_DIM_BEAT_PER_MIN", "/min"),
        ("19384", "MDC", "97", "MDC_DIM_PERCENT", "%"),
        ("20490", "MDC", "16", "MDC_DIM_RESP_PER_MIN", "/min"),
    ]
    assert {o.patient_id for o in readings} == {"P1"} and {o.effective for o in readings} == {AT}
    assert {o.source for o in readings} == {"reported-by:nurse.sato"}
    assert readings[0].record_key == "builtin/7/19292" and readings[0].normalized_value == 36.8


@pytest.mark.parametrize(
    "text",
    ["ＢＴ　３６．８　ＳｐＯ２　９７", "BT36.8、SpO2:97", "体温 36.8 SpO2=97", "bt 36.8, spo2 97"],
)
def test_full_width_glued_and_japanese_spellings_read_alike(text: str) -> None:
    assert is_vital_text(text)
    assert [(o.code.code, o.value) for o in _read(text)] == [("19292", "36.8"), ("19384", "97")]


@pytest.mark.parametrize("text", ["本日は落ち着いています", "P さんの件、了解です", "BP は明日測ります", ""])
def test_a_note_is_not_a_vitals_report(text: str) -> None:
    assert not is_vital_text(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("BT 36,8", "item 2 has no value"),  # a decimal comma is never read as 368 or 36
        ("BT 368", "体温 is outside 30–44"),
        ("BT 36.85", "1 decimal place"),
        ("BP 120", "BP needs 2 number"),
        ("BP 120/80/60", "BP needs 2 number"),
        ("BT 36.8 XX 5", "label of item 2 is unknown"),
        ("BT 36.8 BT 37.0", "BT is given twice"),
        ("BT 36.8 熱っぽい", "has no value"),
        ("SpO2 101", "SpO2 is outside 50–100"),
        ("P 7２a", "P is not a number"),
    ],
)
def test_anything_unreadable_refuses_the_whole_report_without_quoting_values(text: str, reason: str) -> None:
    with pytest.raises(VitalTextError, match=reason) as info:
        _read(text)
    message = str(info.value)
    assert "バイタルの書式" in message  # told in Japanese first
    for value in ("36,8", "368", "36.85", "120/80/60", "101"):
        assert value not in message

"""Every standard SS-MIX2 data type renders into a specific clinician's summary (never a count of records):
over the NHO sample storage, over a generated storage with every type, and on hand-made edge cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from renkei.bin.cmd_ssmix2 import ssmix2
from renkei.connectors.ssmix2 import SSMIX2Error, SSMIX2Source
from renkei.connectors.ssmix2._naming import DATA_TYPES
from renkei.mappings.render import SHIPPED, Renderer, _jdate
from renkei.records import Record

# `../shared` beside the repository, as the SS-MIX2 conformance test finds it.
NHO = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "ssmix2-nho" / "storage"
NEEDS_NHO = pytest.mark.skipif(
    not NHO.is_dir(), reason=f"the NHO sample storage is missing: expected ../shared beside the repository ({NHO})"
)

# The template of each data type and the heading its summary starts with.
HEADINGS = {
    "ADT-00": "【患者基本情報】",
    "ADT-01": "【担当医の変更】",
    "ADT-12": "【外来受診】",
    "ADT-21": "【入院予定】",
    "ADT-22": "【入院】",
    "ADT-31": "【外出・外泊】",
    "ADT-32": "【外出・外泊からの帰院】",
    "ADT-41": "【転科・転棟予定】",
    "ADT-42": "【転科・転棟】",
    "ADT-51": "【退院予定】",
    "ADT-52": "【退院】",
    "ADT-61": "【アレルギー】",
    "PPR-01": "【病名】",
    "OMD": "【食事オーダ】",
    "OMP-01": "【処方】",
    "OMP-02": "【注射】",
    "OMP-11": "【服薬実施】",
    "OMP-12": "【注射実施】",
    "OML-01": "【検体検査オーダ】",
    "OML-11": "【検査結果】",
    "OMG-01": "【放射線検査オーダ】",
    "OMG-02": "【内視鏡検査オーダ】",
    "OMG-03": "【生理検査オーダ】",
    "OMG-11": "【放射線検査実施】",
    "OMG-12": "【内視鏡検査実施】",
    "OMG-13": "【生理検査結果】",
}
STATUS_MARK = {"deleted": "（取消）", "superseded": "（更新前）"}


def test_every_standard_data_type_has_its_own_template() -> None:
    assert set(HEADINGS) == set(DATA_TYPES) and len(DATA_TYPES) == 26
    for data_type in DATA_TYPES:
        assert (SHIPPED / f"{data_type}.j2").is_file(), data_type


def _when(value: str) -> str:
    text = _jdate(value)
    return text if _jdate(value, "%H:%M") == "00:00" else f"{text} {_jdate(value, '%H:%M')}"


def _expected_bits(r: dict[str, Any]) -> list[str]:
    """What the summary must say about one record, read from the parsed record itself."""
    kind = r["kind"]
    if kind == "patient":
        return [f"生年月日 {_jdate(r['birth_date'])}"] if r.get("birth_date") else []
    if kind == "medication":
        drug = r["drug"]
        bits = [drug["display"] or drug["code"], drug["code"]]
        if r["dose"]:
            per = "1回 " if r["activity"] == "prescription" else ""  # RXE-3 of a prescription: the dose per time
            bits.append(f"　{per}{r['dose']} {r['dose_unit']}".rstrip())
        if r["route"]:
            bits.append(f"（{r['route']}）")
        if r["timing"]:
            bits.append(r["timing"])
        if r["start"]:
            bits.append(_when(r["start"]))
        return bits
    if kind == "encounter":
        return [x for x in (r["location"], r["department"], r["attending"]) if x] + (
            [_when(r["occurred_at"])] if r["occurred_at"] else []
        )
    if kind == "condition":
        return [x for x in (r["code"]["display"], r["code"]["code"], r["icd10"]) if x] + [
            m["display"] for m in r["modifiers"] if m["display"]
        ]
    if kind == "allergy":
        return [x for x in (r["allergen"]["display"], r["allergen"]["code"], r["reaction"]) if x]
    if kind == "observation":
        name = r["code"]["display"] or r["code"]["code"]
        if not r["value"]:
            return [f"・{name}"]
        value = f"{r['value']} {r['unit']}".rstrip()
        if r["value_type"] == "NM" and not _is_number(r["value"]):
            return [f"・{name}", f"値「{r['value']}」（数値として読めません）"]
        return [f"・{name}", value]
    if kind == "order":
        code = r["code"] or {}
        lines = [line for line in r["text"].splitlines() if line.strip()]
        return [x for x in (code.get("display"), code.get("code")) if x] + lines
    if kind == "document":
        return [r["title"]] if r["title"] else []
    raise AssertionError(f"no expectation for {kind}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_summary(data_type: str, records: list[Record], text: str) -> None:
    assert "件の記録を受け取りました" not in text, data_type
    assert "None" not in text and "Undefined" not in text, (data_type, text)
    first = text.splitlines()[0]
    if data_type in HEADINGS:
        assert first.startswith(HEADINGS[data_type]), (data_type, first)
    statuses = {r.status.value for r in records}
    if len(statuses) == 1 and (mark := STATUS_MARK.get(statuses.pop())):
        assert mark in first, (data_type, first)
    for record in records:
        for bit in _expected_bits(record.to_dict()):
            assert bit in text, (data_type, record.kind.value, bit, text)


def _render_storage(root: Path) -> tuple[dict[str, int], dict[str, str]]:
    """Parse every file (patient id mismatches kept as warnings, so every readable file renders), render
    with `auto`, check each summary; returns files rendered per data type and the refused files' reasons."""
    src = SSMIX2Source("t", SSMIX2Source.Settings(root=root, patient_mismatch="warn"))
    renderer = Renderer()
    rendered: dict[str, int] = {}
    refused: dict[str, str] = {}
    for item in src.scan():
        try:
            parsed = src.parse(item.key, src.read(item.key))
        except SSMIX2Error as exc:
            refused[item.key] = exc.kind
            continue
        if not parsed.records:
            continue  # an extended-storage attachment: kept as a file, nothing to summarise
        records = [r.to_dict() for r in parsed.records]
        text = renderer.render("auto", data_type=parsed.data_type, records=records, patient=None)
        _check_summary(parsed.data_type, parsed.records, text)
        rendered[parsed.data_type] = rendered.get(parsed.data_type, 0) + 1
    return rendered, refused


@NEEDS_NHO
def test_every_data_type_in_the_nho_sample_renders_a_specific_summary() -> None:
    rendered, refused = _render_storage(NHO)
    # The types the sample holds, each rendered by its own template.
    assert sorted(rendered) == sorted(
        ["ADT-00", "ADT-22", "ADT-42", "ADT-52", "ADT-61", "PPR-01", "OMD", "OMP-01", "OMP-02", "OMP-11",
         "OMP-12", "OML-01", "OML-11", "OMG-01", "OMG-02", "OMG-03", "OMG-11", "OMG-12", "OMG-13"]
    )  # fmt: skip
    assert sum(rendered.values()) == 21
    # The one file that is not HL7 at all (2 bytes) is refused by the parser, not rendered.
    assert list(refused.values()) == ["not_hl7"]


@NEEDS_NHO
def test_nho_prescription_summary_names_drug_code_dose_route_and_usage() -> None:
    src = SSMIX2Source("t", SSMIX2Source.Settings(root=NHO))
    key = "999/901/9999013/20110701/OMP-01/9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1"
    parsed = src.parse(key, src.read(key))
    text = Renderer().render("auto", data_type="OMP-01", records=[r.to_dict() for r in parsed.records], patient=None)
    lines = text.splitlines()
    assert lines[0] == "【処方】2011/07/01"
    assert lines[1] == (
        "・ダーゼン錠（５mg)（HOT9 108665201）　1回 1 TAB（錠）　経口（PO）"
        "　内服・経口・１日３回朝昼夕食後　期間 2011/07/01"
    )
    assert lines[3].startswith(
        "・アレピアチン１０倍散（HOT9 100607002）　1回 50 MG（mg）　経口（PO）　内服・経口・１日２回朝夕食後"
    )
    assert lines[-1] == "□処方"


def test_a_generated_storage_with_every_type_renders_each_specifically(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    args = ["generate", str(root), "--types", "all", "--conditions", "--extended", "--patients", "6", "--labs", "1"]
    result = CliRunner().invoke(ssmix2, args)
    assert result.exit_code == 0, result.output
    rendered, refused = _render_storage(root)
    assert refused == {}
    assert set(rendered) == {*DATA_TYPES, "EXT"}  # EXT: extended-storage vitals and documents


# -- edge cases on hand-made records ------------------------------------------------------------------
def _render(data_type: str, records: list[dict[str, Any]]) -> list[str]:
    return Renderer().render("auto", data_type=data_type, records=records, patient=None).splitlines()


def _obs(value: str, value_type: str = "NM", unit: str = "mg/dL", **extra: Any) -> dict[str, Any]:
    return {"kind": "observation", "status": "current", "code": {"code": "3C015000002327101", "display": "クレアチニン",
            "system": "JC10"}, "value": value, "value_type": value_type, "unit": unit, "reference_range": "",
            "abnormal_flag": "", "effective": None, "result_status": "F", **extra}  # fmt: skip


def test_a_non_numeric_nm_value_is_never_shown_as_a_number() -> None:
    lines = _render("OML-11", [_obs("ccc"), _obs("0.69"), _obs("", unit="")])
    assert lines[1] == "・クレアチニン　値「ccc」（数値として読めません）"  # no unit: it is no quantity
    assert lines[2] == "・クレアチニン　0.69 mg/dL"
    assert lines[3] == "・クレアチニン　（値なし）"
    assert lines[0] == "【検査結果】"  # no date in the records: none printed


def test_empty_fields_are_omitted_not_printed_as_none() -> None:
    med = {"kind": "medication", "status": "current", "activity": "prescription",
           "drug": {"code": "", "display": "院内製剤A", "system": ""}, "dose": "", "dose_unit": "", "route": "",
           "timing": "", "start": None, "end": None, "order_no": ""}  # fmt: skip
    assert _render("OMP-01", [med]) == ["【処方】", "・院内製剤A", "□処方"]
    enc = {"kind": "encounter", "status": "current", "event": "admission", "occurred_at": None, "patient_class": "",
           "department": "", "location": "", "attending": ""}  # fmt: skip
    assert _render("ADT-22", [enc]) == ["【入院】", "□入退院"]


def test_cancellations_updates_and_order_changes_are_said() -> None:
    enc = {"kind": "encounter", "status": "deleted", "event": "discharge", "occurred_at": "2024-07-12T13:19:00+09:00",
           "patient_class": "I", "department": "01", "location": "54-510-2", "attending": "D7817"}  # fmt: skip
    assert _render("ADT-52", [enc])[0] == "【退院】（取消）2024/07/12 13:19"
    assert _render("ADT-52", [{**enc, "status": "superseded"}])[0] == "【退院】（更新前）2024/07/12 13:19"
    order = {
        "kind": "order",
        "status": "current",
        "category": "diet",
        "order_no": "1",
        "order_status": "XO",
        "code": {"code": "021", "display": "糖尿病食", "system": "99XY3"},
        "ordered_at": None,
        "text": "塩分6g/日",
    }
    assert _render("OMD", [order]) == ["【食事オーダ】", "・糖尿病食（99XY3 021）（変更）", "　塩分6g/日", "□食事"]
    cancelled = {**order, "order_status": "CA", "code": {"code": "010", "display": "", "system": "99XY3"}, "text": ""}
    assert _render("OMD", [cancelled])[1] == "・コード 010（99XY3）（取消）"
    # A message mixing statuses marks each line instead of the heading.
    mixed = _render("OML-11", [_obs("0.69"), _obs("0.71", status="deleted")])
    assert mixed[:3] == ["【検査結果】", "・クレアチニン　0.69 mg/dL", "・クレアチニン（取消）　0.71 mg/dL"]


def test_problems_and_allergies_name_their_codes() -> None:
    cond = {"kind": "condition", "status": "current",
            "code": {"code": "20054174", "display": "胃炎", "system": "MDCDX2"},
            "icd10": "K297", "modifiers": [{"code": "8002", "display": "の疑い", "system": "MDCDX2"}],
            "onset": "2022-08-20", "clinical_status": "R"}  # fmt: skip
    assert _render("PPR-01", [cond])[1] == (
        "・胃炎（MDCDX2 20054174、ICD-10 K297）　修飾語 の疑い　開始日 2022/08/20　転帰 軽快"
    )
    allergy = {"kind": "allergy", "status": "current",
               "category": {"code": "DA", "display": "薬剤アレルギー", "system": "HL70127"},
               "allergen": {"code": "106824501", "display": "アリナミン", "system": "HOT9"},
               "severity": "MO", "reaction": ""}  # fmt: skip
    assert _render("ADT-61", [allergy])[1] == "・アリナミン（HOT9 106824501）　薬剤アレルギー　重症度 中等度"


def test_other_data_types_are_summarised_by_record_kind_not_counted() -> None:
    med = {"kind": "medication", "status": "current", "activity": "injection",
           "drug": {"code": "620002559", "display": "アドナ注（静脈用）50mg", "system": "HOT9"}, "dose": "1",
           "dose_unit": "AMP", "route": "IV", "timing": "", "start": None, "end": None, "order_no": ""}  # fmt: skip
    lines = _render("FHIR-MedicationRequest", [med, _obs("ccc")])
    assert lines == [
        "【FHIR-MedicationRequest】",
        "・アドナ注（静脈用）50mg（HOT9 620002559）　1 AMP（アンプル）　静注（IV）",
        "・クレアチニン　値「ccc」（数値として読めません）",
    ]
    # A kind with nothing to say (a note without text) is the only case left for a count.
    note = {"kind": "note", "status": "current", "text": "", "tags": [], "author": "", "written_at": None}
    assert _render("SITE-X", [note]) == ["【SITE-X】1 件の記録を受け取りました"]

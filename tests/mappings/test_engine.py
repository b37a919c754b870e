"""The engine and the shipped specs: fixtures, overlays, spec errors with lines, error texts."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

import renkei.mappings as mappings
from renkei.bin.cmd_mapping import mapping as mapping_cli
from renkei.mappings import (
    BUILTIN_DIR,
    Library,
    MappingSpecError,
    MappingValidationError,
    MappingValueError,
    load_mapping,
    run_fixtures,
)
from renkei.mappings._fixtures import fixture_cases, run_case
from renkei.records import Coding, Observation, Patient

SHIPPED = Library()
CASES = [(name, case, folder) for name in SHIPPED.names() for case, folder in fixture_cases(SHIPPED, name)]


def test_exported_members() -> None:
    assert mappings.__all__ == sorted(mappings.__all__)
    assert set(mappings.__all__) == {
        "BUILTIN_DIR",
        "CaseResult",
        "Library",
        "Mapping",
        "MappingError",
        "MappingNotFoundError",
        "MappingSpecError",
        "MappingValidationError",
        "MappingValueError",
        "apply",
        "library",
        "load_mapping",
        "run_fixtures",
    }


def test_every_shipped_spec_has_at_least_two_fixtures() -> None:
    names = SHIPPED.names()
    assert {
        "patient_to_sns_profile",
        "lab_to_sns_vitals",
        "observation_to_fhir_r4b",
        "sns_vitals_to_observation",
    } <= set(names)
    for name in names:
        assert len(fixture_cases(SHIPPED, name)) >= 2, name


@pytest.mark.parametrize(("name", "case", "folder"), CASES, ids=[f"{n}/{c}" for n, c, _ in CASES])
def test_shipped_fixture(name: str, case: str, folder: Path) -> None:
    result = run_case(SHIPPED.load(name), case, folder)
    assert result.passed, f"{result.fields}\n{result.error}\n{result.diff}"


def test_cli_mapping_test_passes_on_shipped_specs() -> None:
    out = CliRunner().invoke(mapping_cli, ["test", "--json"])
    assert out.exit_code == 0, out.output
    results = json.loads(out.output)
    assert len(results) == len(CASES) and all(r["passed"] for r in results)


def _overlay_with_copy(tmp_path: Path, name: str) -> Path:
    overlay = tmp_path / "site"
    (overlay / "fixtures").mkdir(parents=True)
    shutil.copy(BUILTIN_DIR / f"{name}.yaml", overlay / f"{name}.yaml")
    shutil.copytree(BUILTIN_DIR / "fixtures" / name, overlay / "fixtures" / name)
    return overlay


def test_broken_fixture_fails_with_a_diff_naming_the_field(tmp_path: Path) -> None:
    overlay = _overlay_with_copy(tmp_path, "lab_to_sns_vitals")
    expected = overlay / "fixtures/lab_to_sns_vitals/home_vitals_unit_conversion.output.json"
    data = json.loads(expected.read_text(encoding="utf-8"))
    data["items"][2]["value"] = 61.0  # the mapping gives 60.0 kg for 132.3 lb
    expected.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    results = {r.case: r for r in run_fixtures("lab_to_sns_vitals", overlay=overlay)}
    broken = results["home_vitals_unit_conversion"]
    assert not broken.passed
    assert broken.fields == ["items[2].value"]
    assert '-      "value": 61.0' in broken.diff and '+      "value": 60.0' in broken.diff
    assert results["nho_oml11_proteins"].passed

    out = CliRunner().invoke(mapping_cli, ["test", "lab_to_sns_vitals", "--overlay", str(overlay)])
    assert out.exit_code == 1
    assert "FAIL  lab_to_sns_vitals / home_vitals_unit_conversion" in out.output
    assert "fields: items[2].value" in out.output
    assert "PASS  lab_to_sns_vitals / nho_oml11_proteins" in out.output


def test_expected_error_fixture_must_name_the_right_field(tmp_path: Path) -> None:
    overlay = _overlay_with_copy(tmp_path, "patient_to_sns_profile")
    err = overlay / "fixtures/patient_to_sns_profile/unknown_sex_code.error.json"
    err.write_text(json.dumps({"error": "MappingValueError", "field": "age"}), encoding="utf-8")
    result = {r.case: r for r in run_fixtures("patient_to_sns_profile", overlay=overlay)}["unknown_sex_code"]
    assert not result.passed
    assert "expected the error on field 'age', got 'sex'" in result.error


def _write_spec(tmp_path: Path, name: str, text: str) -> Path:
    overlay = tmp_path / "site"
    overlay.mkdir(exist_ok=True)
    (overlay / f"{name}.yaml").write_text(text, encoding="utf-8")
    return overlay


def test_broken_spec_reports_file_and_line(tmp_path: Path) -> None:
    overlay = _write_spec(
        tmp_path,
        "bad",
        "fields:\n  a: {from: x}\n  b:\n    from: y\n    value: 3\n  c:\n    from: z\n    convert: [{widht: half}]\n",
    )
    with pytest.raises(MappingSpecError) as info:
        Library(overlay).load("bad")
    assert info.value.errors[0][1] == 3  # `b` has both from and value
    assert "bad.yaml" in info.value.errors[0][0] and "fields.b" in info.value.errors[0][0]
    assert "either from or value" in str(info.value)

    overlay = _write_spec(tmp_path, "bad", "fields:\n  a: {from: x}\n  c:\n    from: z\n    convert: [{widht: half}]\n")
    with pytest.raises(MappingSpecError, match=r"bad\.yaml:5: fields\.c\.convert\[0\]\.widht: unknown conversion"):
        Library(overlay).load("bad")

    out = CliRunner().invoke(mapping_cli, ["test", "bad", "--overlay", str(overlay)])
    assert out.exit_code == 2
    assert "bad.yaml:5" in out.output


def test_spec_errors_for_bad_arguments_unknown_tables_and_yaml(tmp_path: Path) -> None:
    overlay = _write_spec(tmp_path, "s", "fields:\n  a:\n    from: x\n    convert:\n      - truncate: {length: many}\n")
    with pytest.raises(MappingSpecError, match=r"s\.yaml:5: .*truncate.*length"):
        Library(overlay).load("s")
    overlay = _write_spec(tmp_path, "s", "fields:\n  a:\n    from: x\n    convert: [{code: nosuch}]\n")
    with pytest.raises(MappingSpecError, match=r"s\.yaml:4: .*no code table named 'nosuch'"):
        Library(overlay).load("s")
    overlay = _write_spec(tmp_path, "s", "fields:\n  a: {from: x\n")
    with pytest.raises(MappingSpecError, match="not valid YAML"):
        Library(overlay).load("s")
    overlay = _write_spec(tmp_path, "s", "target: {fhir: Obsrvation}\nfields:\n  a: x\n")
    with pytest.raises(MappingSpecError, match=r"s\.yaml:1: target: cannot load schema: unknown FHIR"):
        Library(overlay).load("s")


def test_overlay_code_table_replaces_the_shipped_one(tmp_path: Path) -> None:
    overlay = tmp_path / "site"
    (overlay / "codes").mkdir(parents=True)
    (overlay / "codes/hl7_sex_to_sns.yaml").write_text(
        "on_miss: default\ndefault: other\nentries:\n  M: male\n  F: female\n", encoding="utf-8"
    )
    patient = Patient(patient_id="p1", name_kanji="患者 次郎", birth_date=date(1950, 1, 1), sex="X")
    assert Library(overlay).load("patient_to_sns_profile").apply(patient, {"at": "2024-01-01"})["sex"] == "other"
    with pytest.raises(MappingValueError, match="code not in table 'hl7_sex_to_sns'"):
        Library().load("patient_to_sns_profile").apply(patient, {"at": "2024-01-01"})


def test_code_miss_behaviours_in_a_spec(tmp_path: Path) -> None:
    overlay = tmp_path / "site"
    (overlay / "codes").mkdir(parents=True)
    (overlay / "codes/t.yaml").write_text("entries:\n  a: A\n  b: B\n", encoding="utf-8")
    _write_spec(
        tmp_path,
        "m",
        "fields:\n"
        "  dflt: {from: v, convert: [{code: {table: t, on_miss: default, default: '?'}}]}\n"
        "  none: {from: v, convert: [{code: {table: t, on_miss: default}}]}\n"
        "  pass: {from: v, convert: [{code: {table: t, on_miss: pass}}, upper]}\n"
        "  back: {from: v, when: {path: v, in: [A, B]}, convert: [{code: {table: t, reverse: true}}]}\n",
    )
    _write_spec(tmp_path, "e", "fields:\n  err: {from: v, convert: [{code: t}]}\n")
    lib = Library(overlay)
    m = lib.load("m")
    assert m.apply({"v": "a"}) == {"dflt": "A", "none": "A", "pass": "A"}
    assert m.apply({"v": "zz"}) == {"dflt": "?", "pass": "ZZ"}  # default None: the field is left out
    assert m.apply({"v": "B"}) == {"dflt": "?", "pass": "B", "back": "b"}
    assert lib.load("e").apply({"v": "b"}) == {"err": "B"}
    with pytest.raises(MappingValueError) as info:
        lib.load("e").apply({"v": "zz"})
    assert info.value.field == "err" and info.value.value == "zz"


def test_error_text_names_mapping_field_source_but_not_the_value() -> None:
    patient = Patient(patient_id="p1", name_kanji="患者 花子", birth_date=date(1950, 1, 1), sex="Q")
    with pytest.raises(MappingValueError) as info:
        load_mapping("patient_to_sns_profile").apply(patient, {"at": "2024-01-01"})
    text = str(info.value)
    assert "'patient_to_sns_profile'" in text and "field 'sex'" in text and "from 'sex | code'" in text
    assert "'Q'" not in text and "str of 1 chars" in text  # log-safe: shape only
    assert "input value 'Q'" in info.value.operator_text()  # the operator's terminal sees the value


def test_required_context_and_source_kind_are_checked() -> None:
    m = load_mapping("patient_to_sns_profile")
    patient = Patient(patient_id="p1", name_kanji="患者 花子", birth_date=date(1950, 1, 1), sex="F")
    with pytest.raises(MappingValueError, match=r"field '\$at'.*required value is missing"):
        m.apply(patient)
    obs = Observation(patient_id="p1", code=Coding("9A751000000000001"), value="120", unit="mmHg")
    with pytest.raises(MappingValueError, match="expects a patient record, got 'observation'"):
        m.apply(obs, {"at": "2024-01-01"})
    with pytest.raises(MappingValueError, match="expects a list of inputs"):
        load_mapping("lab_to_sns_vitals").apply(obs)


def test_target_validation_names_the_failing_field(tmp_path: Path) -> None:
    overlay = _write_spec(
        tmp_path,
        "fhir_bad",
        "target: {fhir: Observation}\nfields:\n  resourceType: {value: Observation}\n  status: {value: final}\n"
        "  code: {fields: {text: {value: x}}}\n  effectiveDateTime: {value: 'not a date'}\n",
    )
    with pytest.raises(MappingValidationError) as info:
        Library(overlay).load("fhir_bad").apply({})
    assert info.value.problems[0][0] == "effectiveDateTime"
    assert "FHIR R4B Observation" in str(info.value)


def test_records_and_dicts_give_the_same_output_and_mappings_compile_once() -> None:
    patient = Patient(
        patient_id="p1", name_kanji="患者 花子", name_kana="カンジャ ハナコ", birth_date=date(1950, 1, 1), sex="F"
    )
    m = load_mapping("patient_to_sns_profile")
    assert load_mapping("patient_to_sns_profile") is m
    assert m.apply(patient, {"at": "2024-01-01"}) == mappings.apply(
        "patient_to_sns_profile", patient.to_dict(), {"at": "2024-01-01"}
    )


def test_reverse_mapping_round_trips_through_the_forward_one() -> None:
    entry = {
        "patient_id": "p1",
        "measured_at": "2024-05-01T09:30:00+09:00",
        "item": "bp_systolic",
        "value": 16.0,
        "unit": "kPa",
    }
    record = load_mapping("sns_vitals_to_observation").apply(entry)
    assert record["value"] == "120.01" and record["unit"] == "mmHg"
    post = load_mapping("lab_to_sns_vitals").apply([Observation.from_dict(record)])
    assert post["items"] == [{"item": "bp_systolic", "label": "収縮期血圧", "value": 120.0, "unit": "mmHg"}]
    assert post["measured_at"] == entry["measured_at"]


def test_cli_apply_prints_json_and_reports_bad_input(tmp_path: Path) -> None:
    src = BUILTIN_DIR / "fixtures/patient_to_sns_profile/nho_sample_day_before_birthday.input.json"
    out = CliRunner().invoke(mapping_cli, ["apply", "patient_to_sns_profile", str(src), "--at", "2024-04-05"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["age"] == 54
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert CliRunner().invoke(mapping_cli, ["apply", "patient_to_sns_profile", str(bad)]).exit_code == 2
    assert CliRunner().invoke(mapping_cli, ["apply", "no_such_mapping", str(src)]).exit_code == 2

"""Each defect kind, provoked on a good generated file: reported with file, segment/field and reason."""

from __future__ import annotations

import pytest

from renkei.connectors.ssmix2 import ParseOptions, SSMIX2Error, inspect_file, parse_file
from renkei.connectors.ssmix2.generator import iter_storage
from renkei.records import RecordStatus

FILES = list(iter_storage(patients=1, labs_per_patient=1, seed=11))
(ADT_KEY, ADT_RAW, _), (LAB_KEY, LAB_RAW, LAB_RECORDS) = FILES


def kinds(key: str, raw: bytes) -> dict[str, list[str]]:
    _, defects = inspect_file(key, raw)
    out: dict[str, list[str]] = {}
    for d in defects:
        out.setdefault(d.kind, []).append(d.field or d.segment)
        assert str(d).startswith(key)
    return out


def edit(raw: bytes, old: str, new: str) -> bytes:
    text = raw.decode("iso2022_jp")
    assert old in text
    return text.replace(old, new, 1).encode("iso2022_jp")


def test_generated_files_are_clean() -> None:
    assert kinds(ADT_KEY, ADT_RAW) == {} and kinds(LAB_KEY, LAB_RAW) == {}


def test_wrong_folder_and_bad_name() -> None:
    parts = LAB_KEY.split("/")
    moved = "/".join([*parts[:3], "20000101", *parts[4:]])
    assert "wrong_folder" in kinds(moved, LAB_RAW)
    renamed = LAB_KEY.rsplit("_", 1)[0]  # six parts
    assert "bad_name" in kinds(renamed, LAB_RAW)


def test_name_disagreeing_with_content() -> None:
    # data type: an ADT^A08 message stored as OML-11
    assert kinds(LAB_KEY, ADT_RAW)["data_type_mismatch"] == ["MSH-9"]
    # care date: SPM-17 a day off
    spm = LAB_RAW.decode("iso2022_jp").split("SPM|")[1].split("\r")[0].split("|")[16]
    wrong = edit(LAB_RAW, f"|{spm}\r", f"|{int(spm[:8]) - 1}{spm[8:]}\r")
    assert kinds(LAB_KEY, wrong)["care_date_mismatch"] == ["SPM-17"]
    # order number
    order_no = LAB_KEY.split("_")[3]
    assert "order_no_mismatch" in kinds(LAB_KEY.replace(order_no, "1" * 15), LAB_RAW)


def test_patient_mismatch_quarantines_by_default_and_warns_on_request() -> None:
    pid = ADT_KEY.split("/")[2]
    raw = edit(ADT_RAW, f"PID|0001||{pid}", "PID|0001||12345678")
    with pytest.raises(SSMIX2Error) as exc:
        parse_file(ADT_KEY, raw)
    assert exc.value.kind == "patient_mismatch" and "12345678" not in str(exc.value)  # never the other id
    assert "PID-3 names another patient than the patient folder and the file name" in str(exc.value)
    parsed = parse_file(ADT_KEY, raw, ParseOptions(patient_mismatch="warn"))
    assert parsed.patient_id == pid and any("[patient_mismatch]" in w for w in parsed.warnings)
    assert parsed.records[0].warnings == parsed.warnings


def test_field_length_shifted_and_bad_values() -> None:
    jlac = LAB_RECORDS[0].code.code
    assert kinds(LAB_KEY, edit(LAB_RAW, jlac, jlac[:15]))["field_length"] == ["OBX-3.1"]
    value = LAB_RECORDS[0].value
    assert kinds(LAB_KEY, edit(LAB_RAW, f"||{value}|", "||abc|"))["bad_value"] == ["OBX-5"]
    birth = ADT_RAW.decode("iso2022_jp").split("^L^P||")[1][:8]
    shifted = edit(ADT_RAW, f"^L^P||{birth}|", f"^L^P|||M|{birth}|")
    assert kinds(ADT_KEY, shifted)["shifted_field"] == ["PID-7"]


def test_junk_and_misordered_segments_leave_the_records_intact() -> None:
    raw = LAB_RAW + b"ZZZ\rXX|1\rTQ1|1\r"
    found = kinds(LAB_KEY, raw)
    assert found["junk_segment"] == ["ZZZ", "XX"]
    assert found["misordered_segment"] == ["TQ1"]
    parsed, _ = inspect_file(LAB_KEY, raw)
    assert [r.to_dict()["value"] for r in parsed.records] == [r.value for r in LAB_RECORDS]


def test_update_and_delete_keep_the_record_key() -> None:
    """`_1` renamed `_2` plus a new `_1` with a new timestamp, then a `_0`: same keys, new statuses."""
    bits = LAB_KEY.split("_")
    old = "_".join([*bits[:-1], "2"])
    newer = "_".join([*bits[:4], "20991231235959999", bits[5], "1"])
    deleted = "_".join([*bits[:4], "20991231235959999", bits[5], "0"])
    keys = {}
    for key, status in ((old, RecordStatus.SUPERSEDED), (newer, RecordStatus.CURRENT), (deleted, RecordStatus.DELETED)):
        parsed = parse_file(key, LAB_RAW)
        assert {r.status for r in parsed.records} == {status}
        keys[status] = [r.record_key for r in parsed.records]
    assert keys[RecordStatus.SUPERSEDED] == keys[RecordStatus.CURRENT] == keys[RecordStatus.DELETED]
    assert len(set(keys[RecordStatus.CURRENT])) == len(LAB_RECORDS)

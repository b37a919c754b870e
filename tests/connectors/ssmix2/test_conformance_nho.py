"""The NHO sample storage (../shared/conformance/ssmix2-nho): every good file parses, every defect is
reported. The expected set below was built by decoding and reading each of the 22 files by hand; each
entry says what is wrong in the file itself (not what the checker printed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.shared import shared_path

from renkei.bin.cmd_ssmix2 import ssmix2
from renkei.connectors.ssmix2 import SSMIX2Error, SSMIX2Source

# `../shared` beside the repository (as on CI's clean clone), wherever the clone is; skipped with the
# reason named when it is not there, unless RENKEI_REQUIRE_SHARED=1 (CI) makes that a failure.
ROOT: Path = shared_path("conformance", "ssmix2-nho", "storage")

P = "999/901/9999013"
Q = "000/000/0000001/20000401"
JUNK_OMP11 = "AL1 CTI DB1 EVN IAM IN1 IPC MSH NK1 OBR OBX ODS ORC PID PRB PV1 PV2 RXA RXC RXE RXR SPM TQ1 ZE1 ZE2 ZPR"

EXPECTED: set[tuple[str, str]] = {
    # 2-byte file 0xfb 0xfc named OMP-11 of patient 9999013 / 20110630, stored in 0000001/20000401/ADT-31.
    (f"{Q}/ADT-31/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1", "wrong_folder"),
    (f"{Q}/ADT-31/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1", "not_hl7"),
    # Folder and name say patient 0000001, PID-3 says 9999013. MSH-13 holds the text 番号 (not a
    # number). After RXR comes a made-up `OBX|1|NM|aaa|bbb|ccc…` (NM value "ccc"), a TQ1 after it (TQ1
    # belongs under ORC/RXE), then 26 bare segment names AL1…ZPR and a second MSH: junk. RXA-3 says
    # the administration was 20110701, the name says 20000401.
    (f"{Q}/OMP-11/0000001_20000401_OMP-11_123456789012345_20110701113813225_01_1", "patient_mismatch"),
    (f"{Q}/OMP-11/0000001_20000401_OMP-11_123456789012345_20110701113813225_01_1", "bad_value"),
    (f"{Q}/OMP-11/0000001_20000401_OMP-11_123456789012345_20110701113813225_01_1", "misordered_segment"),
    (f"{Q}/OMP-11/0000001_20000401_OMP-11_123456789012345_20110701113813225_01_1", "junk_segment"),
    (f"{Q}/OMP-11/0000001_20000401_OMP-11_123456789012345_20110701113813225_01_1", "care_date_mismatch"),
    # The `_0` (delete) twin of the file above: same defects, and its name's order number
    # 123456789012346 is not the ORC-2 123456789012345 it carries.
    (f"{Q}/OMP-11/0000001_20000401_OMP-11_123456789012346_20110701113813226_01_0", "patient_mismatch"),
    (f"{Q}/OMP-11/0000001_20000401_OMP-11_123456789012346_20110701113813226_01_0", "bad_value"),
    (f"{Q}/OMP-11/0000001_20000401_OMP-11_123456789012346_20110701113813226_01_0", "misordered_segment"),
    (f"{Q}/OMP-11/0000001_20000401_OMP-11_123456789012346_20110701113813226_01_0", "junk_segment"),
    (f"{Q}/OMP-11/0000001_20000401_OMP-11_123456789012346_20110701113813226_01_0", "care_date_mismatch"),
    (f"{Q}/OMP-11/0000001_20000401_OMP-11_123456789012346_20110701113813226_01_0", "order_no_mismatch"),
    # PID-3 12345678 in patient 9999013's folder.
    (f"{P}/-/ADT-61/9999013_-_ADT-61_999999999999999_20111014232213000_-_1", "patient_mismatch"),
    # PID-3 1234567890.
    (f"{P}/-/PPR-01/9999013_-_PPR-01_999999999999999_20111209163030000_01_1", "patient_mismatch"),
    # RXA-3 (the RAS care date) is 201107010830, the folder and name say 20110630 (ORC-9's date).
    (f"{P}/20110630/OMP-11/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1", "care_date_mismatch"),
    # PID-3 1234567890.
    (f"{P}/20111013/OMD/9999013_20111013_OMD_123456789012345_20111014232213000_01_1", "patient_mismatch"),
    # PID-3 12345678.
    (f"{P}/20111220/OMG-01/9999013_20111220_OMG-01_000201101200100_20111220224447339_-_1", "patient_mismatch"),
    # PID-3 10345678; ORC-9 20121220125210 (a year later) but the care date is 20111220.
    (f"{P}/20111220/OMG-02/9999013_20111220_OMG-02_201212201252100_20111220224447339_01_1", "patient_mismatch"),
    (f"{P}/20111220/OMG-02/9999013_20111220_OMG-02_201212201252100_20111220224447339_01_1", "care_date_mismatch"),
    # PID-3 12345678; PV1 `…||||D01234^医師^太郎^^^^^^^^^L…|01`: the department "01" sits in PV1-8
    # (referring doctor) instead of PV1-10, and PV1-7's name type "L" is two components late.
    (f"{P}/20111220/OMG-03/9999013_20111220_OMG-03_201112200089100_20111220224447339_01_1", "patient_mismatch"),
    (f"{P}/20111220/OMG-03/9999013_20111220_OMG-03_201112200089100_20111220224447339_01_1", "shifted_field"),
    # Order number 2011122000300 has 13 digits (name, ORC-2, OBR-2); PID-3 3330000333.
    (f"{P}/20111220/OMG-11/9999013_20111220_OMG-11_2011122000300_20111220224447339_24_1", "field_length"),
    (f"{P}/20111220/OMG-11/9999013_20111220_OMG-11_2011122000300_20111220224447339_24_1", "patient_mismatch"),
    # PID-3 10345678; the first order (ORC NW, OBR) is 201112191656100 while the name says
    # 201112201656100, which only the PA ORC carries, and that ORC's OBR-2 is 201112191656100.
    (f"{P}/20111220/OMG-12/9999013_20111220_OMG-12_201112201656100_20111220224447339_01_1", "patient_mismatch"),
    (f"{P}/20111220/OMG-12/9999013_20111220_OMG-12_201112201656100_20111220224447339_01_1", "order_no_mismatch"),
    # PID-3 12345678; PID `|||M|19470515`: birth date empty, the date in PID-9; the same PV1 shift as
    # OMG-03; OBR-2 2011122000089100 has 16 digits.
    (f"{P}/20111220/OMG-13/9999013_20111220_OMG-13_999999999999999_20111220224447339_01_1", "patient_mismatch"),
    (f"{P}/20111220/OMG-13/9999013_20111220_OMG-13_999999999999999_20111220224447339_01_1", "shifted_field"),
    (f"{P}/20111220/OMG-13/9999013_20111220_OMG-13_999999999999999_20111220224447339_01_1", "field_length"),
    # OBX-3 `2B0300000022311^ＰＴ^JC10`: a 15-character JLAC10 code (JLAC10 has 17).
    (f"{P}/20111220/OML-01/9999013_20111220_OML-01_000000011000354_20111220103059123_15_1", "field_length"),
    # PID-3 0001000052; SPM-17 (the OUL care date) is 201112191500, the folder says 20111220.
    (f"{P}/20111220/OML-11/9999013_20111220_OML-11_000000011000354_20111220103059000_01_1", "patient_mismatch"),
    (f"{P}/20111220/OML-11/9999013_20111220_OML-11_000000011000354_20111220103059000_01_1", "care_date_mismatch"),
}
# Read and found clean: ADT-00 (PID-3 9999013 without type code is allowed), ADT-22 (PV1-44 matches),
# ADT-42 (EVN-6 matches), ADT-52 (PV1-45 matches), OMP-01, OMP-02, OMP-12.
CLEAN = {
    f"{P}/-/ADT-00/9999013_-_ADT-00_999999999999999_20111220224447339_-_1",
    f"{P}/20111120/ADT-22/9999013_20111120_ADT-22_999999999999999_20111220224447339_01_1",
    f"{P}/20111220/ADT-42/9999013_20111220_ADT-42_999999999999999_20111220224447339_10_1",
    f"{P}/20111220/ADT-52/9999013_20111220_ADT-52_999999999999999_20111220224447339_08_1",
    f"{P}/20110701/OMP-01/9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1",
    f"{P}/20110701/OMP-02/9999013_20110701_OMP-02_123456789012345_20110701224603984_01_1",
    f"{P}/20110701/OMP-12/9999013_20110701_OMP-12_123456789012345_20110701113813225_01_1",
}


@pytest.fixture(scope="module")
def report() -> dict:
    result = CliRunner().invoke(ssmix2, ["check", str(ROOT), "--json"])
    assert result.exit_code == 1, result.output  # defects found
    return json.loads(result.output)


def test_check_reports_exactly_the_defects_in_the_sample(report: dict) -> None:
    found = {(d["file"], d["kind"]) for d in report["defects"]}
    assert found == EXPECTED
    assert report["files"] == 22
    for d in report["defects"]:
        assert d["problem"] and (d["kind"] in ("wrong_folder", "field_length", "not_hl7") or d["segment"])
        assert "患者" not in d["problem"] and "太郎" not in d["problem"]


def test_every_junk_segment_is_named(report: dict) -> None:
    name = f"{Q}/OMP-11/0000001_20000401_OMP-11_123456789012345_20110701113813225_01_1"
    junk = {d["segment"].split("[")[0] for d in report["defects"] if d["file"] == name and d["kind"] == "junk_segment"}
    assert junk == set(JUNK_OMP11.split())


def test_good_files_parse_with_their_records() -> None:
    src = SSMIX2Source("nho", SSMIX2Source.Settings(root=ROOT))
    keys = [item.key for item in src.scan()]
    assert len(keys) == 22 and set(keys) >= CLEAN
    by_key = {}
    for key in CLEAN:
        parsed = src.parse(key, src.read(key))
        assert parsed.warnings == [], key
        by_key[key.split("/")[-1].split("_")[2]] = parsed.records
    patient = by_key["ADT-00"][0]
    assert (patient.name_kanji, patient.name_kana, str(patient.birth_date)) == (
        "患者 太郎",
        "カンジャ タロウ",
        "1948-04-05",
    )
    assert (patient.postcode, patient.phones[0]) == ("422-8033", "054-000-0000")
    assert by_key["ADT-22"][0].event == "admission" and by_key["ADT-22"][0].occurred_at.isoformat().startswith(
        "2011-11-20T16:00"
    )
    rx = by_key["OMP-01"]
    assert [(m.drug.code, m.drug.system, m.dose, m.dose_unit, m.route) for m in rx] == [
        ("108665201", "HOT9", "1", "TAB", "PO"),
        ("110626901", "HOT9", "2", "TAB", "PO"),
        ("100607002", "HOT9", "50", "MG", "PO"),
    ]
    assert rx[0].timing == "内服・経口・１日３回朝昼夕食後"
    injections = by_key["OMP-02"]
    assert {m.drug.code for m in injections} == {"620007329", "620002559"} and len(injections) == 6
    # RXR (IV) precedes the RXC components of each group: the route is the group's.
    assert {m.route for m in injections} == {"IV"}
    assert len({m.record_key for m in injections}) == 6


def test_quarantined_files_raise_with_reason() -> None:
    src = SSMIX2Source("nho", SSMIX2Source.Settings(root=ROOT))
    key = f"{P}/20111220/OML-11/9999013_20111220_OML-11_000000011000354_20111220103059000_01_1"
    with pytest.raises(SSMIX2Error) as exc:
        src.parse(key, src.read(key))
    assert exc.value.kind == "patient_mismatch" and "PID-3" in str(exc.value)
    warn = SSMIX2Source("nho", SSMIX2Source.Settings(root=ROOT, patient_mismatch="warn"))
    parsed = warn.parse(key, warn.read(key))
    obs = {o.code.code: o for o in parsed.records}
    alb = obs["3A015000002327101"]
    assert (alb.value, alb.unit, alb.reference_range, alb.order_no) == ("4.9", "g/dl", "3.7-5.5", "000000011000354")
    assert alb.effective is not None and alb.effective.isoformat() == "2011-12-19T15:00:00+09:00"
    assert alb.record_key == "9999013/OML-11/000000011000354/3A015000002327101"

"""Input rules (issue 11): code shapes per coding system, the one patient-id rule, ACKs a sender can parse."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from renkei.bin.cmd_ssmix2 import ssmix2
from renkei.connectors.hl7v2 import MessageError, build_ack, header_or_empty, parse_message, read_ack
from renkei.connectors.hl7v2._codes import shape_problem
from renkei.connectors.ssmix2 import inspect_storage
from renkei.connectors.ssmix2.generator import generate
from renkei.errors import InputError
from renkei.identifiers import is_patient_id


@pytest.mark.parametrize(
    ("system", "code", "result", "kind"),
    [
        ("JC10", "3A010000002327101", True, None),
        ("JC10", "3A01000000232710", True, "field_length"),  # 16 characters: JLAC10 has 17
        ("JC10", "3A01000000232710", False, "field_length"),  # no whole-part length either
        ("JC10", "5A1002411023006", False, None),  # 15: an allergen's JLAC10 without the result part
        ("JC10", "9A110", False, None),  # 5: an ordered test's analyte code
        ("JC10", "3A010000-02327101", True, "code_shape"),
        ("YJ", "1149019F1ZZZ", False, None),
        ("YJ", "1149019F1ZZ", False, "field_length"),
        ("HOT9", "106824501", False, None),
        ("HOT9", "10682450A", False, "code_shape"),
        ("HOT", "1068245010101", False, None),
        ("HOT", "10682450101", False, "field_length"),
        ("MDCDX2", "20054174", False, None),
        ("MDCDX2", "TSQF", False, None),
        ("MDCDX2", "2005417", False, "field_length"),
        ("MDCDX2", "2005417X", False, "code_shape"),
        ("99XYZ", "anything at all", False, None),  # local tables are not checked
    ],
)
def test_code_shapes_per_system(system: str, code: str, result: bool, kind: str | None) -> None:
    found = shape_problem(system, code, result=result)
    assert (found[0] if found else None) == kind


def _oru(obx3: str, pid: str = "9999013") -> str:
    return (
        "MSH|^~\\&|LAB|SEND|RENKEI|RCV|20240402100000||ORU^R01^ORU_R01|R1|P|2.5||||||UNICODE UTF-8\r"
        f"PID|0001||{pid}^^^^PI||山田^花子||19400312|F\r"
        "OBR|1|123456789012345|123456789001|E001^検体検査^99O03|||202404020800\r"
        f"OBX|1|NM|{obx3}||7.1|g/dL^g/dL^99XYZ|6.6-8.1|N|||F|||202404020800\r"
    )


def test_a_16_character_jlac10_result_is_flagged_and_kept() -> None:
    parsed = parse_message(_oru("3A01000000232710^総蛋白^JC10"), "LAB^SEND|R1")
    (obs,) = parsed.records
    assert obs.value == "7.1" and obs.code.code == "3A01000000232710"  # kept, never dropped
    (warning,) = [w for w in parsed.warnings if "JLAC10" in w]
    assert "has 16 characters; JLAC10 has 17 [field_length]" in warning and "OBX-3.1" in warning


@pytest.mark.parametrize("bad", ["../../etc", "<script>", '"9999013"', "99 13", "a/b", "", "x" * 65])
def test_patient_id_rule_refuses_paths_markup_quotes(bad: str) -> None:
    assert not is_patient_id(bad)
    if bad:
        with pytest.raises(MessageError) as exc:
            parse_message(_oru("3A010000002327101^総蛋白^JC10", pid=bad), "LAB^SEND|R1")
        assert exc.value.kind == "bad_patient_id" and "PID-3" in str(exc.value) and bad not in str(exc.value)


@pytest.mark.parametrize("good", ["9999013", "P-001", "ABC.12:3_x"])
def test_patient_id_rule_accepts_real_ids(good: str) -> None:
    assert is_patient_id(good)


def test_ar_for_corrupted_encoding_characters_uses_the_default_separators() -> None:
    raw = b"MSH|^^\\&|HIS|SEND|RENKEI|RCV|20240401090000||ADT^A08|C7|P|2.5\rPID|1||9999013\r"
    h = header_or_empty(raw)
    text = build_ack(h, "AR", text="MSH-1/MSH-2 do not hold valid encoding characters")
    msh = text.split("\r")[0].split("|")
    assert msh[:2] == ["MSH", "^~\\&"] and msh[2:6] == ["RENKEI", "RCV", "HIS", "SEND"]
    ack = read_ack(text)
    assert ack.code == "AR" and ack.control_id == "C7"


def test_ssmix2_read_refuses_a_patient_path_outside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    generate(root, patients=1, labs_per_patient=0, seed=1)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "secret").write_bytes(b"MSH|^~\\&|\r")
    result = CliRunner().invoke(ssmix2, ["read", str(root), "--patient", "../../x", "--data", str(tmp_path / "d")])
    assert result.exit_code == 2 and "--patient" in result.output and "Traceback" not in result.output
    with pytest.raises(InputError):
        inspect_storage(root, "../../x")

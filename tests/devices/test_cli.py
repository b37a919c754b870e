"""`renkei device decode`: whole exchanges, every format, malformed input exits 2 with the offset."""

from __future__ import annotations

import json
from pathlib import Path

import device_vectors as v
from click.testing import CliRunner

from renkei.bin.cli import main
from renkei.devices.intellivue import Numeric, encode_frame, encode_numerics


def run(args: list[str], data: bytes) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["device", "decode", *args, "-"], input=data)
    return result.exit_code, result.stdout, result.stderr


def test_whole_exchange_hex_file(tmp_path: Path) -> None:
    exchange = [
        v.AARQ_SCALE_4000,
        v.AARE_UNKNOWN_CONFIG,
        v.CONFIG_SCALE_4000,
        v.CONFIG_RSP_4000,
        v.SCAN_FIXED_SCALE,
        v.RLRQ,
        v.RLRE,
    ]
    # hex, one APDU per line with spaces, as people paste captures
    text = "\n".join(" ".join(f"{b:02X}" for b in apdu) for apdu in exchange)
    path = tmp_path / "scale.hex"
    path.write_text(text)
    result = CliRunner().invoke(main, ["device", "decode", "--format", "11073", str(path)])
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert [i["apdu"] for i in items] == [
        "AARQ",
        "AARE",
        "PRST EventReport",
        "PRST EventReportResult",
        "PRST EventReport",
        "RLRQ",
        "RLRE",
    ]
    assert items[0]["decoded"]["protocols"][0]["info"]["system_id"] == b"LNIAGENT".hex().upper()
    # the data report decodes with the configuration the association announced
    assert [o["value"] for o in items[4]["observations"]] == ["76.2", "24.3", "76.0", "24.2"]
    assert items[4]["observations"][0]["effective"] == "2007-12-06T12:10:00"
    assert items[4]["responses"] == [v.SCAN_FIXED_SCALE_RSP.hex().upper()]
    assert items[2]["manager_state"] == "operating"


def test_binary_input_and_text_output() -> None:
    code, out, _ = run(["--format", "11073", "--text"], v.AARQ_SPO2_0190 + v.UNBUF_FIXED_SPO2)
    assert code == 0
    assert out.splitlines() == [
        "@0: AARQ — associated result=accepted",
        "@54: PRST EventReport — report — SpO2=98 % @2007-12-06T12:10:00,"
        " 脈拍 (Pulse rate)=72 bpm @2007-12-06T12:10:00",
    ]


def test_gatt_and_serial_formats() -> None:
    code, out, _ = run(["--format", "gatt-bp"], b"01 A0 F0 6B F0 7D F0")
    assert code == 0
    assert [o["value"] for o in json.loads(out)[0]["observations"]] == ["16.0", "10.7", "12.5"]
    code, out, _ = run(["--format", "and"], b"ST,+00012.345  g\r\n")
    assert code == 0 and json.loads(out)[0]["observations"][0]["unit"] == "MDC_DIM_X_G"
    code, out, _ = run(["--format", "masimo", "--device-id", "rad8"], b"SPO2=097% BPM=072\r\n")
    assert code == 0 and json.loads(out)[0]["observations"][0]["device_id"] == "rad8"
    frame = encode_frame(encode_numerics(None, [Numeric(19384, 97, 544)]))
    code, out, _ = run(["--format", "intellivue"], frame)
    assert code == 0 and json.loads(out)[0]["fields"]["numerics"] == 1


def test_malformed_exits_2_with_offset() -> None:
    bad = bytearray(v.SCAN_FIXED_SCALE)
    bad[40] = 0x1F
    code, out, err = run(["--format", "11073"], v.AARQ_SCALE_4000 + v.CONFIG_SCALE_4000 + bytes(bad))
    assert code == 2 and out == ""
    offset = len(v.AARQ_SCALE_4000) + len(v.CONFIG_SCALE_4000) + 40
    assert err.strip() == (
        f"error: byte offset {offset}: APDU #3 at byte offset 170: bad BCD digit 0x1F in AbsoluteTime month"
    )
    code, _, err = run(["--format", "11073", "--input", "hex"], b"E2 00 0")
    assert code == 2 and "odd number of hex digits" in err
    code, _, err = run(["--format", "gatt-temp"], b"02 24 01")
    assert code == 2 and "byte offset 1: temperature measurement (0x2A1C): truncated temperature" in err
    code, _, err = run(["--format", "and"], b"ST,+00012.345  g\r\nZZ\r\n")
    assert code == 2 and "byte offset 18: and: unknown header 'ZZ'" in err

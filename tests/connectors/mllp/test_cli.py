"""`renkei mllp send HOST:PORT FILE…` against a running listener."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from renkei.bin.cli import main
from renkei.connectors.mllp import frame


def test_send_files_prints_each_ack(running, messages, tmp_path: Path) -> None:
    _engine, listener = running()
    one = tmp_path / "one.hl7"
    one.write_text(messages.ADT("C1").replace("\r", "\n"), encoding="utf-8")  # LF-separated, as editors save
    two = tmp_path / "two.hl7"
    two.write_bytes(messages.OUL("C2").encode() + messages.ADT("C3").encode())  # two messages in one file
    framed = tmp_path / "framed.mllp"
    framed.write_bytes(frame(messages.ADT("C4").encode()) + frame(messages.ADT("C1").encode()))
    result = CliRunner().invoke(main, ["mllp", "send", f"127.0.0.1:{listener.port}", str(one), str(two), str(framed)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(": ", 1)[1] for line in lines[:4]] == ["C1 -> AA", "C2 -> AA", "C3 -> AA", "C4 -> AA"]
    assert lines[4].endswith("C1 -> AA: duplicate: already received, not processed again")


def test_json_output_and_exit_1_on_ae(running, messages, tmp_path: Path) -> None:
    _engine, listener = running()
    f = tmp_path / "bad.hl7"
    f.write_text(messages.ADT("X1").replace("ADT^A08^ADT_A01", "ZZZ^Z99"), encoding="utf-8")
    result = CliRunner().invoke(main, ["mllp", "send", f"127.0.0.1:{listener.port}", str(f), "--json"])
    assert result.exit_code == 1
    (row,) = json.loads(result.output)
    assert row["control_id"] == "X1" and row["ack"] == "AE" and "ZZZ^Z99 is not supported" in row["text"]


def test_bad_input_exits_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty.hl7"
    empty.write_text("\n\n", encoding="utf-8")
    assert CliRunner().invoke(main, ["mllp", "send", "nohostport", str(empty)]).exit_code == 2
    result = CliRunner().invoke(main, ["mllp", "send", "127.0.0.1:2575", str(empty)])
    assert result.exit_code == 2 and "no HL7 message" in result.output


def test_unreachable_listener_exits_1(messages, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    f = tmp_path / "m.hl7"
    f.write_text(messages.ADT("U1"), encoding="utf-8")
    result = CliRunner().invoke(main, ["mllp", "send", f"127.0.0.1:{port}", str(f)])
    assert result.exit_code == 1 and "no ACK (ConnectionRefusedError" in result.output

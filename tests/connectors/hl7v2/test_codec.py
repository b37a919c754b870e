"""The HL7 v2 codec on its own: its floor, terminator styles, the one-message rule on raw bytes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import renkei.connectors.hl7v2 as hl7v2
from renkei.connectors.hl7v2 import (
    MessageError,
    build_ack,
    read_ack,
    read_header,
    second_header_offset,
    split_framed,
    terminator_style,
)

PKG = Path(hl7v2.__file__).parent
CONNECTORS = PKG.parent


def _imports(folder: Path) -> set[str]:
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("renkei")}


def test_codec_imports_only_the_shared_vocabulary() -> None:
    vocabulary = {"renkei.records", "renkei.errors", "renkei.identifiers"}  # the package-root floor
    assert _imports(PKG) <= vocabulary | {"renkei.connectors.hl7v2"}


def test_mllp_does_not_import_ssmix2() -> None:
    assert not {m for m in _imports(CONNECTORS / "mllp") if m.startswith("renkei.connectors.ssmix2")}


def test_facade_all_is_sorted_and_complete() -> None:
    def isort_style(name: str) -> tuple[int, str]:  # ruff RUF022: CONSTANTS, Classes, functions
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert hl7v2.__all__ == sorted(hl7v2.__all__, key=isort_style)
    assert all(hasattr(hl7v2, name) for name in hl7v2.__all__)


@pytest.mark.parametrize(
    ("text", "style"),
    [
        ("MSH|^~\\&\rPID|1\r", "CR"),
        ("MSH|^~\\&\nPID|1", "LF"),
        ("MSH|^~\\&\r\nPID|1\r\n", "CRLF"),
        ("MSH|^~\\&\rPID|1\nPV1|1", "mixed (CR, LF)"),
    ],
)
def test_terminator_styles(text: str, style: str) -> None:
    assert terminator_style(text) == style


MSH = "MSH|^~\\&|HIS|SEND|RENKEI|RCV|20240401090000||ADT^A08|C1|P|2.5"


def test_second_header_found_on_raw_bytes_but_not_a_bare_segment_name() -> None:
    one = f"{MSH}\rPID|1||A1\r".encode()
    assert second_header_offset(one) == -1
    assert second_header_offset(one + b"MSH\r") == -1  # a bare segment name is junk, not a message
    two = one + f"{MSH}\nPID|1||B2".encode()
    assert second_header_offset(two) == len(one)
    assert second_header_offset(b"\x0b" + two) == len(one) + 1


def test_split_framed_refuses_a_second_header_and_names_the_segment() -> None:
    with pytest.raises(MessageError) as exc:
        split_framed(f"{MSH}\rPID|1||A1\r{MSH}\rPID|1||B2\r", "k")
    assert exc.value.kind == "multiple_messages" and "segment 3" in str(exc.value)
    assert "A1" not in str(exc.value) and "B2" not in str(exc.value)


def test_escape_left_open_in_an_unterminated_last_segment_is_truncation() -> None:
    with pytest.raises(MessageError) as exc:
        split_framed(f"{MSH}\rPID|1||A1||Yamada\\X0", "k")
    assert exc.value.kind == "truncated" and "escape sequence" in str(exc.value)
    msg, warnings = split_framed(f"{MSH}\rPID|1||A1||Yamada\\X41\\", "k")  # closed: complete, no terminator
    assert warnings == [] and msg.f(msg.segments[1], 5) == "YamadaA"


def test_ack_round_trip_with_default_separators() -> None:
    h = read_header(f"{MSH}\r".encode())
    ack = read_ack(build_ack(h, "AA"))
    assert (ack.code, ack.control_id) == ("AA", "C1")

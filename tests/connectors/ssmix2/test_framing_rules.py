"""SS-MIX2 files by the HL7 v2 framing rules (docs/hl7v2.md), through the source and the real engine:
LF/CRLF separators and a missing final terminator are read and reported once per file; truncation is
decided by evidence; a file holding a second message is quarantined whole."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from renkei.config.loader import load_config
from renkei.connectors.ssmix2 import SSMIX2Error, SSMIX2Source, parse_file
from renkei.connectors.ssmix2.generator import Written, generate
from renkei.errors import NotFoundError
from renkei.pipelines.engine import Engine
from renkei.pipelines.schema import MessageState, messages
from renkei.pipelines.store import Store

CONFIG = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  timeline: {{type: builtin, members: [nurse.sato]}}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline]
    gates: {{consent: false}}
"""


def _rewrite(src: Path, dst: Path, written: list[Written], style: bytes) -> None:
    """The same storage as another generator writes it: `style` between segments, none after the last."""
    for w in written:
        raw = (src / w.key).read_bytes()
        out = dst / w.key
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(raw.rstrip(b"\r").replace(b"\r", style))


def _plain(records: list) -> list[dict]:
    return [{k: v for k, v in r.to_dict().items() if k != "warnings"} for r in records]


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Written]]:
    root = tmp_path_factory.mktemp("cr")
    return root, generate(root, patients=40, labs_per_patient=2, seed=11)


@pytest.mark.parametrize(("style", "name"), [(b"\n", "LF"), (b"\r\n", "CRLF")])
def test_storage_with_other_separators_reads_every_record_with_one_warning_per_file(
    storage: tuple[Path, list[Written]], tmp_path: Path, style: bytes, name: str
) -> None:
    root, written = storage
    _rewrite(root, tmp_path / "other", written, style)
    src = SSMIX2Source("other", SSMIX2Source.Settings(root=tmp_path / "other"))
    expected = {w.key: _plain(w.records) for w in written}
    records = files = 0
    for item in src.scan():
        parsed = src.parse(item.key, src.read(item.key))
        assert _plain(parsed.records) == expected[item.key], item.key
        assert len(parsed.warnings) == 1, parsed.warnings
        assert f"segments end with {name}, not CR" in parsed.warnings[0]
        assert parsed.warnings[0].endswith("[segment_terminator]") and item.key in parsed.warnings[0]
        records += len(parsed.records)
        files += 1
    assert files == len(written) == 40 * 3
    assert records == sum(len(w.records) for w in written) > files


def test_cr_storage_without_final_terminator_reads_with_no_warning(storage: tuple[Path, list[Written]]) -> None:
    root, written = storage
    for w in written[:30]:
        parsed = parse_file(w.key, (root / w.key).read_bytes().rstrip(b"\r"))
        assert parsed.warnings == [] and _plain(parsed.records) == _plain(w.records)


def _lab(written: list[Written]) -> Written:
    return next(w for w in written if "OML-11" in w.key)


def test_cut_inside_the_last_segment_is_truncated_with_the_evidence(storage: tuple[Path, list[Written]]) -> None:
    root, written = storage
    w = _lab(written)
    raw = (root / w.key).read_bytes().rstrip(b"\r")
    last = raw.rsplit(b"\r", 1)[1]
    assert last.startswith(b"OBX")
    cut = raw[: len(raw) - len(last) + last.index(b"|", 20)]  # OBX stops after a few fields
    with pytest.raises(SSMIX2Error) as exc:
        parse_file(w.key, cut)
    assert exc.value.kind == "truncated"
    assert "the last segment has no terminator and ends before required OBX-" in str(exc.value)


def test_cut_inside_a_jis_escape_is_truncated_with_the_offset(storage: tuple[Path, list[Written]]) -> None:
    root, written = storage
    w = next(w for w in written if "ADT-00" in w.key)
    raw = (root / w.key).read_bytes()
    at = raw.index(b"\x1b$B")
    with pytest.raises(SSMIX2Error) as exc:
        parse_file(w.key, raw[: at + 2])
    assert exc.value.kind == "truncated" and exc.value.defect.offset == at
    assert "ends inside a JIS escape sequence" in str(exc.value)


def test_unescaped_component_separator_in_a_text_value_is_flagged() -> None:
    key = "999/901/9999013/20240402/OML-11/9999013_20240402_OML-11_123456789012345_20240402100000000_01_1"
    text = (
        "MSH|^~\\&|H|S|G|R|20240402100000||OUL^R22^OUL_R22|1|P|2.5||||||~ISO IR87||ISO 2022-1994\r"
        "PID|0001||9999013^^^^PI||ヤマダ^ハナコ^^^^^L^P||19400312|F\r"
        "SPM|1|123456789001||023^血清^JC10|||||||||||||20240402080000\r"
        "OBR|1|123456789012345|123456789001|E001^検体検査^99O03|||20240402080000\r"
        "ORC|SC|123456789012345|123456789001||CM|||||||||||||||||||||20240402\r"
        "OBX|1|ST|3A010000002327101^コメント^JC10||溶血^あり||||||F|||20240402080000\r"
    )
    parsed = parse_file(key, text.encode("iso2022_jp"))
    flagged = [w for w in parsed.warnings if "[unescaped_delimiter]" in w]
    assert len(flagged) == 1 and "OBX-5" in flagged[0] and "component separator '^'" in flagged[0]
    assert parsed.records[0].value == "溶血^あり"  # kept as sent, never dropped


# ---- through the engine -------------------------------------------------------------------------------


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    root = tmp_path / "storage"
    root.mkdir()
    cfg = tmp_path / "renkei.yaml"
    cfg.write_text(CONFIG.format(root=root), encoding="utf-8")
    eng = Engine(load_config(cfg), Store.in_data_dir(tmp_path / "data"), tmp_path / "data")
    yield eng, root
    eng.close()
    eng.store.close()


def _states(eng: Engine) -> dict[str, tuple[str, str]]:
    with eng.store.read() as conn:
        rows = conn.execute(sa.select(messages.c.source_key, messages.c.state, messages.c.reason))
        return {k: (s, r) for k, s, r in rows}


def _posts(eng: Engine, patient_id: str) -> list[dict]:
    tl = eng.connector("timeline")
    try:
        return tl.read(tl.group_for_patient(patient_id))
    except NotFoundError:
        return []


def test_a_file_holding_a_second_message_is_quarantined_whole(engine: tuple[Engine, Path], tmp_path: Path) -> None:
    eng, root = engine
    written = generate(tmp_path / "gen", patients=2, labs_per_patient=1, seed=5)
    a, b = sorted({w.records[0].patient_id for w in written})
    lab_a = next(w for w in written if "OML-11" in w.key and w.records[0].patient_id == a)
    lab_b = next(w for w in written if "OML-11" in w.key and w.records[0].patient_id == b)
    target = root / lab_a.key
    target.parent.mkdir(parents=True)
    target.write_bytes((tmp_path / "gen" / lab_a.key).read_bytes() + (tmp_path / "gen" / lab_b.key).read_bytes())
    stats = eng.run_pipeline(eng.pipeline("sync"))
    assert (stats.received, stats.quarantined, stats.sent) == (1, 1, 0)
    state, reason = _states(eng)[lab_a.key]
    assert state == MessageState.QUARANTINED and "[multiple_messages]" in reason
    assert "a second MSH (message header) at segment" in reason and b not in reason
    assert _posts(eng, a) == [] and _posts(eng, b) == []


def test_lf_file_without_terminator_flows_and_a_jis_cut_file_is_quarantined(
    engine: tuple[Engine, Path], tmp_path: Path
) -> None:
    eng, root = engine
    written = generate(tmp_path / "gen", patients=1, labs_per_patient=1, seed=9)
    adt = next(w for w in written if "ADT-00" in w.key)
    lab = next(w for w in written if "OML-11" in w.key)
    for w in (adt, lab):
        (root / w.key).parent.mkdir(parents=True, exist_ok=True)
    (root / lab.key).write_bytes((tmp_path / "gen" / lab.key).read_bytes().rstrip(b"\r").replace(b"\r", b"\n"))
    raw = (tmp_path / "gen" / adt.key).read_bytes()
    (root / adt.key).write_bytes(raw[: raw.index(b"\x1b$B") + 5])  # inside the first kanji of PID-5
    os.sync()
    stats = eng.run_pipeline(eng.pipeline("sync"))
    assert (stats.received, stats.quarantined, stats.sent) == (2, 1, 1)
    states = _states(eng)
    assert states[lab.key][0] == MessageState.SENT
    state, reason = states[adt.key]
    assert state == MessageState.QUARANTINED and "[truncated]" in reason and "two-byte JIS" in reason
    (post,) = _posts(eng, lab.records[0].patient_id)
    assert post["text"].startswith("【検査結果】")

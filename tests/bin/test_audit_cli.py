"""`renkei audit verify` / `audit anchor` as an operator runs them: anchors kept outside the data folder
catch cut-off entries; a malformed --anchor is bad input (2); a broken chain exits 1."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from renkei.bin.cli import main
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.store import Store


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def _data_with_entries(n: int) -> Path:
    data = Path(os.environ["RENKEI_DATA"])
    store = Store.in_data_dir(data)
    store.audit([AuditEntry("timeline.read", f"P{i}", f"timeline-group:{i}") for i in range(n)])
    store.close()
    return data


def _sql(data: Path, statement: str) -> None:
    conn = sqlite3.connect(data / "renkei.sqlite")
    conn.execute(statement)
    conn.commit()
    conn.close()


def test_verify_anchors_and_detects_deleting_every_entry() -> None:
    data = _data_with_entries(4)
    first = _cli("audit", "verify", "--json")
    assert first.exit_code == 0, first.stdout + first.stderr
    body = json.loads(first.stdout)
    assert (body["ok"], body["entries"], body["keyed_from"]) == (True, 5, 1)
    assert body["anchor_folder"].startswith(os.environ["RENKEI_AUDIT_ANCHOR_DIR"])
    assert not body["anchor_folder"].startswith(str(data))
    anchor = _cli("audit", "anchor", "--json")
    assert anchor.exit_code == 0 and json.loads(anchor.stdout)["entries"] == 5
    _sql(data, "DELETE FROM audit_log")
    broken = _cli("audit", "verify")
    assert broken.exit_code == 1
    assert "audit log BROKEN at entry 5: the log ends at entry 0 (0 entries)" in broken.stderr
    assert "the newest entries were removed" in broken.stderr


def test_verify_detects_an_edit_of_a_keyed_entry() -> None:
    data = _data_with_entries(3)
    _sql(data, "UPDATE audit_log SET patient_id = 'P-other' WHERE seq = 3")
    result = _cli("audit", "verify", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["first_bad_seq"] == 3


def test_a_malformed_anchor_is_bad_input_not_a_traceback() -> None:
    _data_with_entries(1)
    result = _cli("audit", "verify", "--anchor", "garbage")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "--anchor" in result.stderr and "SEQ:HASH" in result.stderr
    as_json = _cli("audit", "verify", "--anchor", "garbage", "--json")
    assert as_json.exit_code == 2 and "SEQ:HASH" in json.loads(as_json.stdout)["error"]


def test_a_forged_anchor_file_fails_the_check(tmp_path: Path) -> None:
    _data_with_entries(2)
    assert _cli("audit", "anchor").exit_code == 0
    folder = next(Path(os.environ["RENKEI_AUDIT_ANCHOR_DIR"]).iterdir())
    day = next(folder.glob("*.jsonl"))
    line = json.loads(day.read_text().splitlines()[0])
    day.write_text(json.dumps({**line, "entries": 1}) + "\n")  # someone lowers the checkpoint
    result = _cli("audit", "verify")
    assert result.exit_code == 1 and "is not signed by the audit key" in result.stderr

"""`renkei patients import FILE.csv`: consent and links for many patients, all or nothing, with a dry run
and a per-row report that names lines and reasons, never the values."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from renkei.bin.cli import main

GOOD = """person,consent,scope,date,links,note
9999013,granted,all,2026-04-01,ehr:hospital:9999013 tag:04a1b2c3,signed form in cabinet 3
9999014,granted,timeline;lab,2026-04-02,,
9999015,withdrawn,,2026-04-03,,
9999016,,,,tag:0A0B0C0D,
"""

BAD = """person,consent,scope,date,links
9999013,granted,all,2026-04-01,
山田太郎,granted,all,2026-04-01,
9999020,granted,,2026-04-01,
9999021,maybe,all,2026-04-01,
9999022,granted,all,2026-13-45,
9999023,,,,ssn:123-45-6789
9999013,granted,all,2026-04-01,
9999024,granted,all,2026-04-01,tag:FFEE
9999025,granted,all,2026-04-01,tag:ffee
"""


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def _json(*args: str):
    result = _cli(*args, "--json")
    return result, json.loads(result.stdout)


def test_dry_run_reports_and_changes_nothing_then_import_records_everything(tmp_path: Path) -> None:
    f = tmp_path / "consents.csv"
    f.write_text(GOOD, encoding="utf-8-sig")  # with the BOM Excel writes
    result, report = _json("patients", "import", str(f), "--dry-run")
    assert result.exit_code == 0
    assert (report["rows"], report["errors"], report["applied"]) == (4, [], False)
    assert json.loads(_cli("patients", "list", "--json").stdout) == []
    result, report = _json("patients", "import", str(f))
    assert result.exit_code == 0
    assert (report["applied"], report["consents"], report["links"]) == (True, 3, 3)
    persons = {p["person_id"]: p for p in json.loads(_cli("patients", "list", "--json").stdout)}
    assert persons["9999013"]["consent"]["scope"] == ["all"]
    assert persons["9999013"]["systems"] == ["ehr:hospital", "tag"]
    assert persons["9999014"]["consent"]["scope"] == ["lab", "timeline"]
    assert persons["9999015"]["consent"]["state"] == "withdrawn"
    assert persons["9999016"]["consent"] is None and persons["9999016"]["systems"] == ["tag"]
    shown = json.loads(_cli("patients", "show", "9999013", "--json").stdout)
    assert shown["identifiers"]["tag"] == ["04A1B2C3"]  # as the bedside reads it


def test_bad_rows_are_named_by_line_and_reason_and_nothing_is_written(tmp_path: Path) -> None:
    f = tmp_path / "consents.csv"
    f.write_text(BAD, encoding="utf-8")
    result, report = _json("patients", "import", str(f))
    assert result.exit_code == 2 and report["applied"] is False
    errors = {e["line"]: e["error"] for e in report["errors"]}
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 10]
    assert errors[3].startswith("person:")
    assert errors[4].startswith("scope: a granted consent needs a scope")
    assert errors[5].startswith("consent:")
    assert errors[6] == "date: expected YYYY-MM-DD"
    assert errors[7].startswith("links:")
    assert errors[8] == "person already in line 2"
    assert errors[10] == "links: an identifier of line 9 (another person)"  # the same tag, typed differently
    text = result.stdout
    for value in ("山田太郎", "123-45-6789", "2026-13-45", "FFEE"):  # the report never repeats row values
        assert value not in text
    assert json.loads(_cli("patients", "list", "--json").stdout) == []
    plain = _cli("patients", "import", str(f))
    assert plain.exit_code == 2
    assert f"{f} line 6: date: expected YYYY-MM-DD" in plain.stderr
    assert "7 bad row(s): nothing imported" in plain.stderr


def test_an_identifier_linked_to_someone_else_is_refused_per_row(tmp_path: Path) -> None:
    assert _cli("patients", "link", "P-other", "--tag", "04A1B2C3").exit_code == 0
    f = tmp_path / "consents.csv"
    f.write_text(GOOD, encoding="utf-8")
    result, report = _json("patients", "import", str(f))
    assert result.exit_code == 2
    assert report["errors"] == [{"line": 2, "error": "links: a tag identifier is linked to another person"}]


def test_a_bad_header_is_bad_input(tmp_path: Path) -> None:
    f = tmp_path / "consents.csv"
    f.write_text("patient,consent\n1,granted\n", encoding="utf-8")
    result, body = _json("patients", "import", str(f))
    assert result.exit_code == 2 and "line 1: the header needs person" in body["error"]

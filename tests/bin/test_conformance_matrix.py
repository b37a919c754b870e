"""docs/conformance.md and `renkei conformance` come from one table: they agree, and every named test exists."""

from __future__ import annotations

import ast
from pathlib import Path

from click.testing import CliRunner

from renkei.bin.cli import main
from renkei.bin.conformance_matrix import SECTIONS, SUPPORT, render_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_doc_and_command_agree() -> None:
    doc = (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
    result = CliRunner().invoke(main, ["conformance", "--markdown"])
    assert result.exit_code == 0
    assert result.output == doc == render_markdown()
    text = CliRunner().invoke(main, ["conformance"]).output
    for section in SECTIONS:  # the text view shows the same clauses
        assert section.title in doc and section.title in text
        for row in section.rows:
            assert row.feature in doc and row.feature in text


def test_every_named_test_exists_and_every_row_is_judged() -> None:
    functions: dict[Path, set[str]] = {}
    for section in SECTIONS:
        for row in section.rows:
            assert row.support in SUPPORT, row
            assert row.tests or row.support == "not", f"{row.feature}: full/partial needs a proving test"
            for ref in row.tests:
                file, _, name = ref.partition("::")
                path = ROOT / "tests" / file
                assert path.is_file(), ref
                if path not in functions:
                    tree = ast.parse(path.read_text(encoding="utf-8"))
                    functions[path] = {
                        n.targets[0].id if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name) else
                        getattr(n, "name", "")
                        for n in tree.body
                    }
                assert name in functions[path], ref


def test_the_standards_asked_for_have_sections() -> None:
    titles = " ".join(s.title for s in SECTIONS)
    for name in ("11073-20601", "104xx", "PHDC", "GATT", "SS-MIX2", "HL7 v2.5", "FHIR JP Core"):
        assert name in titles

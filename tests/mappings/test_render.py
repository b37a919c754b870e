"""Level 1 templates: sandboxed, with the fixed-phrase library in reach, site templates first."""

from __future__ import annotations

from pathlib import Path

import pytest

from renkei.errors import ConfigError, InputError
from renkei.mappings.render import Renderer

LAB = [
    {"kind": "observation", "code": {"code": "3A010000002327101", "display": "総蛋白", "system": "JC10"},
     "value": "7.2", "unit": "g/dL", "reference_range": "6.6-8.1", "abnormal_flag": "H",
     "effective": "2024-10-14T09:30:00+09:00"},
]  # fmt: skip


def test_shipped_lab_template_renders_values_and_flags() -> None:
    text = Renderer().render("auto", data_type="OML-11", records=LAB, patient=None)
    assert text.splitlines() == ["【検査結果】2024/10/14", "・総蛋白　7.2 g/dL（基準 6.6-8.1）　[H]", "□検査結果"]


def test_site_template_wins_and_can_use_phrases(tmp_path: Path) -> None:
    (tmp_path / "OML-11.j2").write_text(
        '{{ phrases["visit-nursing-result"] }}\n{{ records[0].value }}', encoding="utf-8"
    )
    text = Renderer([tmp_path]).render("auto", data_type="OML-11", records=LAB, patient=None)
    assert text == "訪問看護の結果は以下の通りです。\n7.2"


@pytest.mark.parametrize(
    "body",
    [
        "{{ records.__class__.__mro__ }}",
        "{{ ''.__class__.__subclasses__() }}",
        "{% set x = records.append(1) %}",  # immutable sandbox: no changing the data
    ],
)
def test_templates_cannot_escape_the_sandbox(tmp_path: Path, body: str) -> None:
    (tmp_path / "evil.j2").write_text(body, encoding="utf-8")
    with pytest.raises(InputError, match=r"template evil\.j2: SecurityError"):
        Renderer([tmp_path]).render("evil", data_type="OML-11", records=list(LAB), patient=None)


def test_unknown_or_broken_template_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        Renderer().render("nope", data_type="OML-11", records=LAB, patient=None)
    (tmp_path / "broken.j2").write_text("{% for %}", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1"):
        Renderer([tmp_path]).render("broken", data_type="OML-11", records=LAB, patient=None)


def test_a_failing_template_becomes_a_quarantine_reason_without_values(tmp_path: Path) -> None:
    (tmp_path / "site.j2").write_text('{{ phrases["no-such-phrase"] }}', encoding="utf-8")
    with pytest.raises(InputError, match=r"^template site\.j2 failed: NotFoundError$"):
        Renderer([tmp_path]).render("site", data_type="OML-11", records=LAB, patient=None)

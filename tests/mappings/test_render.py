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


def test_a_huge_range_fails_at_once_naming_the_template(tmp_path: Path) -> None:
    (tmp_path / "hang.j2").write_text(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", encoding="utf-8"
    )
    with pytest.raises(InputError, match=r"^template hang\.j2 stopped: range of 100000 items"):
        Renderer([tmp_path]).render("hang", data_type="OML-11", records=LAB, patient=None)


def test_nested_loops_within_the_range_cap_stop_at_the_deadline(tmp_path: Path, monkeypatch) -> None:
    import time

    from renkei.mappings import render

    monkeypatch.setattr(render, "RENDER_SECONDS", 0.3)
    (tmp_path / "slow.j2").write_text(
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", encoding="utf-8"
    )
    started = time.monotonic()
    with pytest.raises(InputError, match=r"^template slow\.j2 stopped: time limit$"):
        Renderer([tmp_path]).render("slow", data_type="OML-11", records=LAB, patient=None)
    assert time.monotonic() - started < 5  # 10^8 iterations would take minutes
    # the deadline belongs to one render: the next one runs normally
    assert Renderer().render("auto", data_type="OML-11", records=LAB, patient=None).startswith("【検査結果】")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{{ 'x' * 100000000 }}", "repeating a sequence"),
        ("{{ 'x' | center(100000000) }}", "width 100000000"),
        ("{% for i in range(5000) %}{{ '0123456789' * 100 }}{% endfor %}", "output over 200000 characters"),
        ("{{ 10 ** 100000000 }}", "exponent too large"),
    ],
)
def test_output_size_is_capped(tmp_path: Path, body: str, reason: str) -> None:
    (tmp_path / "big.j2").write_text(body, encoding="utf-8")
    with pytest.raises(InputError, match=rf"^template big\.j2 stopped: {reason}"):
        Renderer([tmp_path]).render("big", data_type="OML-11", records=LAB, patient=None)


@pytest.mark.parametrize(
    "body",
    [
        "{{ phrases.add([]) }}",
        "{{ phrases._library.add([]) }}",
        "{{ phrases.categories().update({'x': 1}) }}",
    ],
)
def test_templates_cannot_change_the_phrase_library(tmp_path: Path, body: str) -> None:
    from renkei.mappings.phrases import load_phrases

    library = load_phrases()
    before = [(p.id, p.text) for p in library]
    (tmp_path / "mutate.j2").write_text(body, encoding="utf-8")
    renderer = Renderer([tmp_path], phrases=library)
    with pytest.raises(InputError, match=r"^template mutate\.j2"):
        renderer.render("mutate", data_type="OML-11", records=LAB, patient=None)
    assert [(p.id, p.text) for p in library] == before
    (tmp_path / "read.j2").write_text(
        '{{ phrases["visit-nursing-result"] }} {{ "visit-nursing-result" in phrases }} {{ phrases.tag_line(["ACP"]) }}',
        encoding="utf-8",
    )
    assert renderer.render("read", data_type="OML-11", records=LAB, patient=None) == (
        "訪問看護の結果は以下の通りです。 True □ACP"
    )

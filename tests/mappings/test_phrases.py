"""The fixed-phrase library: shipped phrases and tags, the site overlay by id, errors with file and line,
and use from sandboxed templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from renkei.errors import ConfigError, NotFoundError
from renkei.mappings.phrases import SHIPPED, Phrase, PhraseLibrary, load_phrase_file, load_phrases, tag_line


def test_shipped_library_has_the_home_care_phrases_and_tags() -> None:
    lib = load_phrases()
    texts = {p.text for p in lib}
    for wanted in ("訪問看護の結果は以下の通りです。", "新しいケアプランです。", "退院前カンファレンスのお知らせ",
                   "褥瘡の状態", "服薬状況"):  # fmt: skip
        assert any(t.startswith(wanted) for t in texts), wanted
    assert lib.tags[:7] == ("ACP", "褥瘡", "服薬", "転倒", "食事", "排泄", "バイタル")
    assert lib.phrase("visit-nursing-result").tags == ("訪問看護", "バイタル")
    lines = (SHIPPED / "default.yaml").read_text(encoding="utf-8").splitlines()
    id_line = next(i for i, t in enumerate(lines, 1) if t.strip() == "- id: visit-nursing-result")
    assert lib.phrase("visit-nursing-result").origin == f"default.yaml:{id_line}"
    assert len({p.id for p in lib}) == len(lib) >= 20
    # every phrase's suggested tags are known tags
    assert {t for p in lib for t in p.tags} <= set(lib.tags)


def test_unknown_phrase_names_near_ids() -> None:
    with pytest.raises(NotFoundError, match="no phrase 'care-plan'; did you mean new-care-plan"):
        load_phrases().phrase("care-plan")


def test_site_overlay_overrides_by_id_adds_phrases_and_tags(tmp_path: Path) -> None:
    site = tmp_path / "phrases"
    site.mkdir()
    (site / "10-clinic.yaml").write_text(
        "phrases:\n"
        "  - id: new-care-plan\n"
        "    text: ケアプランを更新しました（○○クリニック）。\n"
        "    tags: [ケアプラン]\n"
        "  - id: rehab-report\n"
        "    text: リハビリの経過は以下の通りです。\n"
        "    category: リハビリ\n"
        "    tags: [□リハビリ]\n"
        "tags: [口腔ケア, ACP]\n",
        encoding="utf-8",
    )
    (site / "20-later.yml").write_text("phrases:\n  - {id: rehab-report, text: 後のファイルが勝ちます。}\n", "utf-8")
    (site / "notes.txt").write_text("not a phrase file", encoding="utf-8")
    shipped = load_phrases()
    lib = load_phrases(site)
    assert lib.phrase("new-care-plan").text == "ケアプランを更新しました（○○クリニック）。"
    assert lib.phrase("new-care-plan").origin == "10-clinic.yaml:2"
    assert lib.phrase("rehab-report").text == "後のファイルが勝ちます。"
    assert lib.overridden == ["new-care-plan", "rehab-report"]
    assert len(lib) == len(shipped) + 1
    assert lib.tags[: len(shipped.tags)] == shipped.tags  # shipped order kept; new tags follow
    assert set(lib.tags) - set(shipped.tags) == {"口腔ケア", "リハビリ"}
    # untouched shipped phrases are still there
    assert lib.phrase("fall-report").text == shipped.phrase("fall-report").text


@pytest.mark.parametrize(
    ("content", "line", "where", "reason"),
    [
        ("phrases:\n  - id: a\n    text: ok\n  - id: b\n    category: x\n", 4, "phrases[1].text", "Field required"),
        ("phrases:\n  - id: a\n    text: [1, 2]\n", 3, "phrases[0].text", "valid string"),
        ("phrases:\n  - id: 'bad id'\n    text: x\n", 2, "phrases[0].id", "should match pattern"),
        ("phrases:\n  - id: a\n    text: x\n    colour: red\n", 4, "phrases[0].colour", "Extra inputs"),
        ("phrases:\n  - id: a\n    text: x\n  - id: a\n    text: y\n", 4, "phrases[1].id", "already used at line 2"),
        ("tags: [ACP, 'two words']\n", 1, "tags", "one word without spaces"),
        ("phrases:\n  - id: a\n    text: '   '\n", 3, "phrases[0].text", "needs some text"),
        ("phrases:\n  - id: a\n  text: x\n", 3, "(file)", "not valid YAML"),
        ("- just a list\n", 1, "(top level)", "a phrase file is a mapping"),
    ],
)
def test_broken_phrase_file_reports_file_and_line(
    tmp_path: Path, content: str, line: int, where: str, reason: str
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_phrases(tmp_path)
    assert str(err.value).startswith(f"{path} line {line}: {where}: ")
    assert reason in str(err.value)
    first = err.value.errors[0]
    assert first[0] == f"{path}: {where}" and first[1] == line


def test_not_a_folder_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a folder"):
        load_phrases(tmp_path / "missing")
    (tmp_path / "empty.yaml").write_text("# nothing yet\n", encoding="utf-8")
    assert load_phrase_file(tmp_path / "empty.yaml") == ([], [])


def test_tag_line_marks_dedups_and_validates() -> None:
    assert tag_line(["ACP", "□褥瘡", "ACP", "服薬"]) == "□ACP □褥瘡 □服薬"
    assert tag_line([]) == ""
    with pytest.raises(ValueError, match="one word"):
        tag_line(["two words"])


def test_phrases_are_usable_from_a_sandboxed_template() -> None:
    env = ImmutableSandboxedEnvironment()
    lib = load_phrases()
    out = env.from_string(
        '{{ phrases["new-care-plan"] }}|{{ phrases.phrase("fall-report").text }}|'
        "{{ phrases.tag_line(['ACP', '転倒']) }}|{{ phrases | list | length }}|"
        "{% for p in phrases if p.category == '入退院' %}{{ p.id }},{% endfor %}"
    ).render(phrases=lib)
    parts = out.split("|")
    assert parts[0] == lib.phrase("new-care-plan").text
    assert parts[1] == "転倒がありました。状況は以下の通りです。"
    assert parts[2] == "□ACP □転倒"
    assert parts[3] == str(len(lib))
    assert parts[4].split(",")[:-1] == [p.id for p in lib if p.category == "入退院"] != []
    # the sandbox still refuses internals
    with pytest.raises(SecurityError):
        env.from_string("{{ phrases._phrases.clear() }}").render(phrases=lib)


def test_library_can_be_built_in_code() -> None:
    lib = PhraseLibrary([Phrase("a", "A。", tags=("X",))], ["Y"])
    assert "a" in lib and "b" not in lib and lib.tags == ("Y", "X") and str(lib["a"]) == "A。"
    assert SHIPPED.is_dir()

"""Fixed phrases (定型文) and tags for level 1 text and level 3 posts.

The shipped library is `mappings/phrases/*.yaml`; a site adds or overrides phrases with YAML files of
the same format in its `phrases_dir` (config), read in file-name order after the shipped ones:

    phrases:
      - id: visit-nursing-result          # letters, digits, - _ . (what --phrase ID names)
        text: 訪問看護の結果は以下の通りです。
        category: 訪問看護                 # optional, for listings
        tags: [訪問看護, バイタル]          # optional, suggested with the phrase
    tags: [ACP, 褥瘡, 服薬]                 # shown as □ACP □褥瘡 □服薬

A phrase whose id is already known replaces it (the site's wording wins); tags are added, in order,
without duplicates. Every file is validated and errors name the file, the YAML path and the line.

Templates get the library as `phrases`: `{{ phrases["visit-nursing-result"] }}` (a Phrase prints as its
text), `{{ phrases.phrase("new-care-plan").text }}`, `{% for p in phrases %}…`, `{{ phrases.tag_line(["ACP"]) }}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from renkei.errors import ConfigError, NotFoundError
from renkei.yamlio import YamlDoc, plain, yaml_path

SHIPPED = Path(__file__).with_name("phrases")
TAG_MARK = "□"


def _clean_tag(value: str) -> str:
    tag = value.strip().lstrip("□■")
    if not tag or any(ch.isspace() for ch in tag):
        raise ValueError("a tag is one word without spaces, e.g. ACP or 褥瘡")
    return tag


class _PhraseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    text: str = Field(min_length=1)
    category: str = ""
    tags: list[str] = Field(default_factory=list)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a phrase needs some text")
        return value.strip()

    @field_validator("tags")
    @classmethod
    def _tags(cls, values: list[str]) -> list[str]:
        return [_clean_tag(v) for v in values]


class _PhraseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phrases: list[_PhraseModel] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    @field_validator("tags")
    @classmethod
    def _tags(cls, values: list[str]) -> list[str]:
        return [_clean_tag(v) for v in values]


@dataclass(slots=True, frozen=True)
class Phrase:
    id: str
    text: str
    category: str = ""
    tags: tuple[str, ...] = ()
    origin: str = ""  # "file:line", for listings and override reports

    def __str__(self) -> str:
        return self.text


def tag_line(tags: Iterable[str]) -> str:
    """`□ACP □褥瘡`: the tag line care-SNS users know, each tag once, in the order given."""
    seen: dict[str, None] = {}
    for t in tags:
        seen.setdefault(_clean_tag(t), None)
    return " ".join(f"{TAG_MARK}{t}" for t in seen)


class PhraseLibrary:
    """Phrases by id (shipped, then site overrides) and the known tags."""

    def __init__(self, phrases: Iterable[Phrase] = (), tags: Iterable[str] = ()) -> None:
        self._phrases: dict[str, Phrase] = {}
        self._tags: dict[str, None] = {}
        self.overridden: list[str] = []  # ids a later file replaced
        self.add(phrases, tags)

    def add(self, phrases: Iterable[Phrase], tags: Iterable[str] = ()) -> None:
        for t in tags:  # the file's own tag list sets the order; phrase tags not listed there follow
            self._tags.setdefault(t, None)
        for p in phrases:
            if p.id in self._phrases:
                self.overridden.append(p.id)
            self._phrases[p.id] = p
            for t in p.tags:
                self._tags.setdefault(t, None)

    def phrase(self, phrase_id: str) -> Phrase:
        try:
            return self._phrases[phrase_id]
        except KeyError:
            near = [i for i in self._phrases if phrase_id.lower() in i.lower()][:5]
            hint = f"; did you mean {', '.join(near)}?" if near else "; `renkei phrases` lists them"
            raise NotFoundError(f"no phrase {phrase_id!r}{hint}") from None

    def __getitem__(self, phrase_id: str) -> Phrase:
        return self.phrase(phrase_id)

    def __contains__(self, phrase_id: object) -> bool:
        return phrase_id in self._phrases

    def __iter__(self) -> Iterator[Phrase]:
        return iter(self._phrases.values())

    def __len__(self) -> int:
        return len(self._phrases)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self._tags)

    def categories(self) -> dict[str, list[Phrase]]:
        out: dict[str, list[Phrase]] = {}
        for p in self._phrases.values():
            out.setdefault(p.category, []).append(p)
        return out

    def tag_line(self, tags: Iterable[str]) -> str:
        return tag_line(tags)


def load_phrases(site_dir: Path | None = None) -> PhraseLibrary:
    """The shipped library, then every `*.yaml`/`*.yml` in `site_dir` (file-name order) over it."""
    library = PhraseLibrary()
    for path in _yaml_files(SHIPPED):
        library.add(*load_phrase_file(path))
    if site_dir is not None:
        site_dir = Path(site_dir)
        if not site_dir.is_dir():
            raise ConfigError(f"phrases_dir {site_dir} is not a folder", [(str(site_dir), None, "not a folder")])
        for path in _yaml_files(site_dir):
            library.add(*load_phrase_file(path))
    return library


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_phrase_file(path: Path) -> tuple[list[Phrase], list[str]]:
    """One phrase file's phrases and tags; a ConfigError naming file, YAML path and line otherwise."""
    path = Path(path)
    doc = YamlDoc(path, error=lambda _message, rows: _error(path, rows))
    if doc.data is None:
        return [], []
    if not isinstance(doc.data, dict):
        raise _error(path, [("(top level)", 1, "a phrase file is a mapping with `phrases:` and/or `tags:`")])
    try:
        model = _PhraseFile.model_validate(plain(doc.data))
    except ValidationError as exc:
        rows = [(yaml_path(tuple(e["loc"])), doc.line_of(tuple(e["loc"])), e["msg"]) for e in exc.errors()]
        raise _error(path, rows) from exc
    seen: dict[str, int] = {}
    rows = []
    phrases = []
    for i, p in enumerate(model.phrases):
        line = doc.line_of(("phrases", i, "id"))
        if p.id in seen:
            rows.append((f"phrases[{i}].id", line, f"phrase id {p.id!r} is already used at line {seen[p.id]}"))
        seen[p.id] = line or 0
        phrases.append(Phrase(p.id, p.text, p.category, tuple(p.tags), f"{path.name}:{line}"))
    if rows:
        raise _error(path, rows)
    return phrases, model.tags


def _error(path: Path, rows: list[tuple[str, int | None, str]]) -> ConfigError:
    where, line, reason = rows[0]
    at = f" line {line}" if line else ""
    more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
    return ConfigError(f"{path}{at}: {where}: {reason}{more}", [(f"{path}: {w}", n, r) for w, n, r in rows])

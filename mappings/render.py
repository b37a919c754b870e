"""Level 1 (コピペ): render canonical records as ready-to-paste text with sandboxed Jinja2 templates.

Templates run in Jinja2's immutable sandbox: a template (which a clinic's staff may edit) can read the
records it is given but cannot call arbitrary methods, reach Python internals or change data.
Lookup order: the site's own template folder (config), then the templates shipped in
`mappings/templates/`. `auto` picks `<data type>.j2` (e.g. `OML-11.j2`) and falls back to `default.j2`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from renkei.errors import ConfigError, InputError
from renkei.mappings.phrases import PhraseLibrary, load_phrases

SHIPPED = Path(__file__).with_name("templates")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def _jdate(value: Any, fmt: str = "%Y/%m/%d") -> str:
    """Format an ISO date/datetime string (as in record dicts) for Japanese readers."""
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    return value.strftime(fmt)


def _number_text(value: Any) -> bool:
    """Whether a value's text reads as a finite decimal number (HL7 NM), e.g. "7.2", "-0.5", "+3"."""
    return isinstance(value, str) and _NUMBER.fullmatch(value.strip()) is not None


class Renderer:
    """Templates see `data_type`, `records` (record dicts), `patient` (patient basics or {}) and
    `phrases` (the fixed-phrase library: `{{ phrases["new-care-plan"] }}`, `phrases.tag_line([...])`)."""

    def __init__(self, extra_dirs: Sequence[Path] = (), phrases: PhraseLibrary | None = None) -> None:
        loader = jinja2.FileSystemLoader([*map(str, extra_dirs), str(SHIPPED)])
        self.env = ImmutableSandboxedEnvironment(
            loader=loader, autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False
        )
        self.env.filters["jdate"] = _jdate
        self.env.tests["number_text"] = _number_text  # NM values that are not numbers are never shown as one
        self.phrases = phrases if phrases is not None else load_phrases()
        self._cache: dict[str, jinja2.Template] = {}

    @classmethod
    def for_site(cls, templates_dir: Path | None, phrases_dir: Path | None) -> Renderer:
        """The site's templates and phrases (the config's folders, if set) over the shipped ones."""
        return cls([templates_dir] if templates_dir else [], load_phrases(phrases_dir))

    def template_for(self, name: str, data_type: str = "") -> jinja2.Template:
        wanted = name if name != "auto" else f"{data_type}.j2"
        cached = self._cache.get(wanted)
        if cached is not None:
            return cached
        try:
            template = self.env.get_template(wanted if wanted.endswith(".j2") else f"{wanted}.j2")
        except jinja2.TemplateNotFound:
            if name != "auto":
                raise ConfigError(f"template {name!r} not found") from None
            template = self.env.get_template("default.j2")
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"template {exc.name or wanted} line {exc.lineno}: {exc.message}") from exc
        self._cache[wanted] = template
        return template

    def render(
        self, name: str, *, data_type: str, records: list[dict[str, Any]], patient: dict[str, Any] | None
    ) -> str:
        template = self.template_for(name, data_type)
        try:
            context = {"data_type": data_type, "records": records, "patient": patient or {}, "phrases": self.phrases}
            return template.render(**context).strip()
        except jinja2.TemplateError as exc:
            # Reported against the template, never with the record values in the text.
            raise InputError(f"template {template.name}: {type(exc).__name__}: {exc.message}") from exc
        except Exception as exc:  # a site template can fail any way (unknown phrase, bad filter input, …)
            raise InputError(f"template {template.name} failed: {type(exc).__name__}") from exc

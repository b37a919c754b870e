"""Level 1 (コピペ): render canonical records as ready-to-paste text with sandboxed Jinja2 templates.

Templates run in Jinja2's immutable sandbox: a template (which a clinic's staff may edit) can read the
records it is given but cannot call arbitrary methods, reach Python internals or change data.
Lookup order: the site's own template folder (config), then the templates shipped in
`mappings/templates/`. `auto` picks `<data type>.j2` (e.g. `OML-11.j2`) and falls back to `default.j2`.
"""

from __future__ import annotations

import operator
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from renkei.errors import ConfigError, InputError
from renkei.mappings.phrases import Phrase, PhraseLibrary, load_phrases

SHIPPED = Path(__file__).with_name("templates")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")

# A site template is edited by clinic staff: it must not be able to hang a pipeline run or fill memory.
# CPU seconds of the rendering thread, not wall clock: a runaway template is caught just the same, and a
# render that merely waited for a busy CPU (the processing worker runs at low priority) is not refused.
RENDER_SECONDS = 2.0
MAX_OUTPUT_CHARS = 200_000  # far beyond any paste-able summary
MAX_RANGE = 10_000  # range() in a template; nested loops are caught by the deadline
MAX_SEQUENCE = 100_000  # "x" * n, list * n: the largest string/list a template may build
_DEADLINE = threading.local()


class RenderLimitError(InputError):
    """A template went over its time or size limit."""


CLOCK_EVERY = 16  # checks per reading of the thread's CPU clock (a system call, a few % of a render)


def _check_deadline() -> None:
    deadline = getattr(_DEADLINE, "at", None)
    if deadline is None:
        return
    _DEADLINE.checks += 1
    if _DEADLINE.checks % CLOCK_EVERY == 0 and time.thread_time() > deadline:
        raise RenderLimitError("time limit")


def _limited_range(*args: int) -> Iterator[int]:
    """range() for templates: at most MAX_RANGE items, and every step checks the render's deadline."""
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise RenderLimitError(f"range of {len(rng)} items (at most {MAX_RANGE})")
    for i in rng:
        _check_deadline()
        yield i


class PhraseView:
    """What a template sees of the phrase library: lookups only, nothing that changes it."""

    __slots__ = ("_library",)

    def __init__(self, library: PhraseLibrary) -> None:
        self._library = library

    def __getitem__(self, phrase_id: str) -> Phrase:
        return self._library.phrase(phrase_id)

    def __contains__(self, phrase_id: object) -> bool:
        return phrase_id in self._library

    def __iter__(self) -> Iterator[Phrase]:
        return iter(tuple(self._library))

    def __len__(self) -> int:
        return len(self._library)

    def phrase(self, phrase_id: str) -> Phrase:
        return self._library.phrase(phrase_id)

    @property
    def tags(self) -> tuple[str, ...]:
        return self._library.tags

    def categories(self) -> dict[str, list[Phrase]]:
        return self._library.categories()  # a fresh dict each call; the sandbox forbids changing it anyway

    def tag_line(self, tags: Iterable[str]) -> str:
        return self._library.tag_line(tags)


class _LimitedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with the size of what `*` and `**` can build capped and every call
    checking the render's deadline."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_SEQUENCE:
                    raise RenderLimitError(f"repeating a sequence to {len(seq) * n} items (at most {MAX_SEQUENCE})")
            return operator.mul(left, right)
        if operator_name == "**":
            if isinstance(right, int) and abs(right) > 64:
                raise RenderLimitError("exponent too large")
            return operator.pow(left, right)
        return super().call_binop(context, operator_name, left, right)

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        return super().call(__context, __obj, *args, **kwargs)


def _capped(filter_fn: Any, width_arg: int) -> Any:
    def capped(*args: Any, **kwargs: Any) -> Any:
        if len(args) > width_arg and isinstance(args[width_arg], int) and args[width_arg] > MAX_SEQUENCE:
            raise RenderLimitError(f"width {args[width_arg]} (at most {MAX_SEQUENCE})")
        return filter_fn(*args, **kwargs)

    return capped


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
        self.env = _LimitedSandbox(
            loader=loader, autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False
        )
        self.env.filters["jdate"] = _jdate
        self.env.globals["range"] = _limited_range
        self.env.globals.pop("lipsum", None)
        for name in ("center", "indent"):  # the filters that pad to a width the template chooses
            self.env.filters[name] = _capped(self.env.filters[name], 1)
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
        context = {
            "data_type": data_type,
            "records": records,
            "patient": patient or {},
            "phrases": PhraseView(self.phrases),
        }
        _DEADLINE.at = time.thread_time() + RENDER_SECONDS
        _DEADLINE.checks = 0
        try:
            return self._generate(template, context).strip()
        except RenderLimitError as exc:
            raise RenderLimitError(f"template {template.name} stopped: {exc}") from None
        except jinja2.TemplateError as exc:
            # Reported against the template, never with the record values in the text.
            raise InputError(f"template {template.name}: {type(exc).__name__}: {exc.message}") from exc
        except Exception as exc:  # a site template can fail any way (unknown phrase, bad filter input, …)
            raise InputError(f"template {template.name} failed: {type(exc).__name__}") from exc
        finally:
            _DEADLINE.at = None

    @staticmethod
    def _generate(template: jinja2.Template, context: dict[str, Any]) -> str:
        """Render chunk by chunk, so output size and time are checked while the template runs."""
        parts: list[str] = []
        size = 0
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise RenderLimitError(f"output over {MAX_OUTPUT_CHARS} characters")
            _check_deadline()
            parts.append(chunk)
        return "".join(parts)

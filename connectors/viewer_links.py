"""Level 2 (URL linking): building per-patient links into EHR viewers from their URL templates.

The link card itself (which ids the registry holds, consent, posting through the engine) is the engine's
(pipelines/levels.py); this module only checks templates and fills them with plain values.

No clinical data moves: the card carries a URL that opens the viewer's own page for the patient, where
the viewer's own login and access rules apply. A URL is built from a template per viewer system and the
id the patient registry holds for that viewer (identifier system `viewer:<name>`):

    viewers:
      idlink:                       # ID-LINK style: one id per patient across the network
        title: ID-LINK で見る
        url_template: https://viewer.id-link.example.jp/patient?pid={viewer_id}
      humanbridge:                  # HumanBridge style: the disclosing facility and its patient id
        title: HumanBridge で見る
        url_template: https://hb.example.jp/view/{facility}/patients/{viewer_id}
      clinic-portal:                # any other viewer
        title: 地域連携ポータル
        url_template: https://portal.example.jp/p/{viewer_id}

Rules (a link must never leak who the patient is, nor point anywhere but the configured viewer):
- only `{viewer_id}` and `{facility}` may appear in a template; anything else (`{name}`, `{kana}`,
  format specs, attribute access) is a ConfigError naming the viewer;
- the template must be an absolute http(s) URL and its scheme and host must be literal text;
- values are percent-encoded (a `/` cannot add path segments) and must be printable ASCII, so a name
  typed by mistake as an id is refused instead of published;
- a viewer whose template uses `{facility}` stores `FACILITY:ID` in the registry (one value per
  facility; the card then carries one link per facility).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from renkei.errors import ConfigError, NotFoundError, RefusedError

PLACEHOLDERS = frozenset({"viewer_id", "facility"})
_VALUE = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces: ids, never names
LINK_TEXT = "【閲覧リンク】{title}"


class Viewer(Protocol):
    """A configured viewer (config.schema.ViewerConfig): this module takes plain values, never the config."""

    title: str
    url_template: str


class UnlinkedViewerError(NotFoundError):
    """The patient has no id for this viewer in the registry: say so instead of posting a broken link."""


def viewer_system(viewer_name: str) -> str:
    return f"viewer:{viewer_name}"


def template_fields(name: str, template: str) -> set[str]:
    """The placeholders of `template`; a ConfigError naming the viewer for anything not allowed."""
    found: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:  # unbalanced braces
        raise ConfigError(f"viewer {name}: url_template is not a valid template: {exc}") from exc
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in PLACEHOLDERS:
            hint = " (a link must never carry a patient's name)" if "name" in field.lower() or "kana" in field else ""
            raise ConfigError(
                f"viewer {name}: url_template may only use {{viewer_id}} and {{facility}}, not {{{field}}}{hint}"
            )
        if spec or conversion:
            raise ConfigError(f"viewer {name}: url_template placeholder {{{field}}} takes no format spec or conversion")
        found.add(field)
    if "viewer_id" not in found:
        raise ConfigError(f"viewer {name}: url_template must contain {{viewer_id}}")
    probe = template.replace("{viewer_id}", "\x00").replace("{facility}", "\x00")
    parts = urlsplit(probe)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"viewer {name}: url_template must be an absolute http(s) URL")
    if "\x00" in parts.scheme + parts.netloc:
        raise ConfigError(f"viewer {name}: url_template must have a fixed host; placeholders go in the path or query")
    return found


def check_viewers(viewers: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """(YAML location, reason) for every viewer whose url_template breaks the rules above.

    For config loading: `for loc, reason in check_viewers(plain["viewers"]): add(loc, reason)`. Takes
    viewer objects (title, url_template) or the raw mappings (a missing or mistyped template is the schema's to report).
    """
    out: list[tuple[tuple[str, ...], str]] = []
    for name, viewer in viewers.items():
        template = viewer.get("url_template") if isinstance(viewer, Mapping) else getattr(viewer, "url_template", None)
        if not isinstance(template, str):
            continue
        try:
            template_fields(str(name), template)
        except ConfigError as exc:
            out.append((("viewers", str(name), "url_template"), str(exc)))
    return out


def viewer_url(viewer: Viewer, viewer_id: str, facility: str = "", *, name: str = "") -> str:
    """The viewer's URL for one patient; raises ConfigError (template) or RefusedError (value)."""
    label = name or viewer.title
    fields = template_fields(label, viewer.url_template)
    values = {"viewer_id": viewer_id, "facility": facility}
    for field in sorted(fields):
        value = values[field]
        if not value:
            raise RefusedError(f"viewer {label}: no {field} for this patient")
        if not _VALUE.match(value):
            # The value is not echoed: if it is not an id it may be a name.
            raise RefusedError(
                f"viewer {label}: the {field} must be printable ASCII without spaces (an id, never a name)"
            )
    return viewer.url_template.format(**{f: quote(values[f], safe="") for f in fields})


def split_value(name: str, viewer: Viewer, value: str) -> tuple[str, str]:
    """A registry value as (facility, viewer_id): `FACILITY:ID` for facility viewers, else the id."""
    if "facility" not in template_fields(name, viewer.url_template):
        return "", value
    facility, sep, viewer_id = value.partition(":")
    if not sep or not facility or not viewer_id:
        raise RefusedError(
            f"viewer {name} needs FACILITY:ID in the registry (its URL names the facility); "
            f"relink with `renkei patients link PERSON --viewer {name}:FACILITY:ID`"
        )
    return facility, viewer_id

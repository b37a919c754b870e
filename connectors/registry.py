"""Find connector classes by name, through the `renkei.connectors` entry-point group.

renkei registers its own connectors in that same group (pyproject.toml), so a third-party plugin is
installed and named exactly like a built-in one. An unknown name is a ConfigError listing the known ones.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

from renkei.errors import ConfigError

GROUP = "renkei.connectors"


@cache
def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def known() -> list[str]:
    return sorted(_entry_points())


def connector_class(name: str) -> type:
    try:
        ep = _entry_points()[name]
    except KeyError:
        raise ConfigError(f"unknown connector type {name!r}; known: {', '.join(known())}") from None
    return ep.load()

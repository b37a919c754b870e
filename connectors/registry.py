"""Find connector classes by name, through the `renkei.connectors` entry-point group.

renkei registers its own connectors in that same group (pyproject.toml), so a third-party plugin is
installed and named exactly like a built-in one. An unknown name is a ConfigError listing the known ones.

Loading a configuration needs only each connector's `Settings` model. A connector whose module is heavy
(e.g. imports SQLAlchemy) registers that model on its own under `renkei.connector_settings`, with the
same name, so a config loads without importing the connector itself.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

from renkei.errors import ConfigError

GROUP = "renkei.connectors"
SETTINGS_GROUP = "renkei.connector_settings"


@cache
def _entry_points(group: str = GROUP) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def known() -> list[str]:
    return sorted(_entry_points())


def connector_class(name: str) -> type:
    try:
        ep = _entry_points()[name]
    except KeyError:
        raise ConfigError(f"unknown connector type {name!r}; known: {', '.join(known())}") from None
    return ep.load()


def settings_model(name: str) -> type:
    """The pydantic model of a connector type's settings, without importing the connector when it
    registered the model separately."""
    ep = _entry_points(SETTINGS_GROUP).get(name)
    return ep.load() if ep is not None else connector_class(name).Settings

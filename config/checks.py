"""Checks of a valid configuration against the machine it runs on: the files and folders it names exist.

`load_config` checks the configuration itself; these run in `renkei config check` and before `renkei run`,
so a missing secret file stops the run before anything is stored (not at the first delivery), and a
missing SS-MIX2 folder is named instead of failing every scheduled run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from renkei.config.loader import LoadedConfig


@dataclass(slots=True, frozen=True)
class Problem:
    path: str  # YAML path, e.g. connectors.hook.secret_file
    reason: str
    can_wait: bool = False  # the service may start and retry each run (e.g. a folder not mounted yet)


def environment_problems(loaded: LoadedConfig) -> list[Problem]:
    problems: list[Problem] = []
    config = loaded.config
    for name, settings in loaded.connector_settings.items():
        for field, value in settings:
            if not isinstance(value, Path):
                continue
            where = f"connectors.{name}.{field}"
            if field.endswith("_file"):  # secrets and certificates: read when first used, so checked now
                if not value.is_file():
                    problems.append(Problem(where, f"file {value} does not exist"))
                elif not os.access(value, os.R_OK):
                    problems.append(Problem(where, f"file {value} cannot be read by this user"))
            elif field == "root" and config.connectors[name].type == "ssmix2" and not value.is_dir():
                problems.append(Problem(where, f"SS-MIX2 folder {value} does not exist", can_wait=True))
    for field in ("templates_dir", "phrases_dir", "mappings_dir"):
        value = getattr(config, field)
        if value is not None and not Path(value).is_dir():
            problems.append(Problem(field, f"folder {value} does not exist"))
    return problems

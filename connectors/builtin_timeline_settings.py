"""The built-in timeline's settings, apart from its SQLite implementation, so that loading a config does
not import SQLAlchemy (registered under the `renkei.connector_settings` entry-point group)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class BuiltinTimelineSettings(BaseModel):
    model_config = {"extra": "forbid"}
    members: list[str] = Field(default_factory=list, description="invited to every new patient group")
    path: Path | None = Field(None, description="folder for timeline.sqlite; default: the data folder")

"""The pydantic schema of a renkei configuration file.

    version: 1
    data_dir: ./renkei-data            # optional; --data / RENKEI_DATA win
    connectors:
      <name>: {type: <entry-point name>, …that connector's own settings…}
    pipelines:
      - name: …
        source: <connector name>
        filters: {data_types: [...], patients: [...]}
        transform: {template: auto}    # level 1 text; or {mapping: NAME} (level 4)
        destinations: [<connector name>, …]
        trigger: {interval_seconds: 300} | {cron: "0 2 * * *"} | {event: true}
        retry: {max_attempts: 8, max_age_seconds: 86400, …}

Each connector's own settings are validated by that connector class's `Settings` model (see loader.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from renkei.pipelines.retry import RetrySettings


class ConnectorConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class FilterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_types: list[str] | None = Field(None, description="keep only these data types (e.g. OML-11)")
    patients: list[str] | None = Field(None, description="keep only these patient ids")


class TransformConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str | None = Field("auto", description="level 1 template; auto = by data type")
    mapping: str | None = Field(None, description="level 4 mapping name (instead of a template)")
    tags: list[str] = Field(default_factory=list, description="tags added to every post")


class TriggerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interval_seconds: float | None = Field(None, gt=0)
    cron: str | None = None
    event: bool = False

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str | None) -> str | None:
        if value is not None:
            CronTrigger.from_crontab(value)  # raises ValueError naming the bad field
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> TriggerConfig:
        chosen = [self.interval_seconds is not None, self.cron is not None, self.event]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of interval_seconds, cron or event")
        return self


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    source: str
    filters: FilterConfig = Field(default_factory=FilterConfig)
    transform: TransformConfig = Field(default_factory=TransformConfig)
    destinations: list[str] = Field(min_length=1)
    trigger: TriggerConfig = Field(default_factory=lambda: TriggerConfig(interval_seconds=300))
    retry: RetrySettings = Field(default_factory=RetrySettings)


class RenkeiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(1, ge=1, le=1)
    data_dir: Path | None = None
    templates_dir: Path | None = Field(None, description="site templates, searched before the shipped ones")
    connectors: dict[str, ConnectorConfig]
    pipelines: list[PipelineConfig] = Field(default_factory=list)

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
        retry: {max_age_seconds: 86400, max_backoff_seconds: 300, …}

Each connector's own settings are validated by that connector class's `Settings` model (see loader.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from renkei.audiences import normalize_audience
from renkei.config.notifications import NotificationsConfig


class RetrySettings(BaseModel):
    model_config = {"extra": "forbid"}

    """A failed delivery is retried with capped exponential backoff (plus jitter) until its first attempt is
    `max_age_seconds` old: an outage of hours loses nothing. `max_attempts` is an optional extra cap."""

    max_attempts: int | None = Field(None, ge=1, description="optional: also give up after this many attempts")
    max_age_seconds: float = Field(24 * 3600, gt=0, description="give up (DEAD) once the first attempt is this old")
    initial_backoff_seconds: float = Field(1.0, gt=0)
    max_backoff_seconds: float = Field(300.0, gt=0)
    jitter_seconds: float = Field(1.0, ge=0)


class RetentionSettings(BaseModel):
    """How long a finished message keeps its content (see pipelines/retention.py). Counted from the message's
    last change (SENT or FILTERED); `null` keeps forever. Ids, states, receipts and the audit log stay."""

    model_config = {"extra": "forbid"}

    raw_days: float | None = Field(30, ge=0, description="drop the raw input and parsed records after N days")
    payload_days: float | None = Field(30, ge=0, description="drop the delivered payloads after N days")


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


class ApprovalGate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    required_for: list[Literal["low", "middle", "high"]] = Field(
        default_factory=lambda: ["high"], description="sensitivity levels that wait for a physician"
    )


class GatesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    consent: bool = Field(True, description="deliver nothing for a patient without granted consent in scope")
    consent_scope: str = Field("timeline", description="the consent scope this pipeline needs (or 'all')")
    approval: ApprovalGate | None = Field(None, description="hold sensitive items until a physician approves")
    auto_link: bool = Field(True, description="create and link a timeline group for a person who has none yet")


class SensitivityRule(BaseModel):
    """First matching rule wins; a rule with no conditions matches everything."""

    model_config = ConfigDict(extra="forbid")
    level: Literal["low", "middle", "high"]
    data_types: list[str] | None = None
    kinds: list[str] | None = None  # record kinds: observation, note, document, …
    tags: list[str] | None = None
    # Who in the care team sees a timeline post this rule matches (renkei.audiences): team (default),
    # physicians, or roles:R1,R2 (e.g. roles:physician,linked_physician; コメディカル etc. accepted).
    audience: str | None = None

    @field_validator("audience")
    @classmethod
    def _known_audience(cls, value: str | None) -> str | None:
        return None if value is None else normalize_audience(value)


DEFAULT_SENSITIVITY = [
    # 情報の機微度 (domain.md): chart notes and lab results high; nursing reports and rehab plans middle;
    # everyday notes low. Sites override the whole list in their config.
    SensitivityRule(level="high", kinds=["observation", "condition", "document", "medication", "allergy"]),
    SensitivityRule(level="middle", tags=["訪問看護", "リハビリ", "看護記録"]),
    SensitivityRule(level="low"),
]


# Consent scope vocabulary (README "Consent scopes"). A consent lists purposes (where data may go:
# `timeline`, `external`, or a site's own word) and, optionally, data categories (what may go); `all`
# covers everything. A consent naming no category covers every category of its purposes.
PURPOSE_TIMELINE = "timeline"  # the care team's patient timelines (built-in, Matrix, FHIR Communication)
PURPOSE_EXTERNAL = "external"  # any other destination (webhook, FHIR server, HL7 sender) unless configured
DataCategory = Literal[
    "demographics", "encounters", "conditions", "allergies", "medications", "labs", "vitals", "orders",
    "documents", "notes",
]  # fmt: skip
DATA_CATEGORIES: frozenset[str] = frozenset(DataCategory.__args__)  # type: ignore[attr-defined]


class DestinationPrivacy(BaseModel):
    """What one destination may receive: its purpose (the consent scope it needs), the data categories it
    takes, and per record kind the only fields it gets (data minimisation)."""

    model_config = ConfigDict(extra="forbid")
    purpose: str | None = Field(
        None, pattern=r"^[a-z][a-z0-9_-]{0,39}$",
        description="consent scope this destination needs; default: timeline for a timeline, else external",
    )  # fmt: skip
    categories: list[DataCategory] | None = Field(None, description="data categories it may receive (default: all)")
    fields: dict[str, list[str]] | None = Field(
        None, description="per record kind, the only fields sent besides kind, patient_id, record_key, status"
    )


class PrivacyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    destinations: dict[str, DestinationPrivacy] = Field(default_factory=dict, description="per connector name")


class ViewerConfig(BaseModel):
    """Level 2: a per-patient link into an EHR viewer (ID-LINK, HumanBridge or any other)."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(description="shown on the link card, e.g. 'ID-LINK で見る'")
    url_template: str = Field(description="e.g. https://viewer.example.jp/patients/{viewer_id}; never a name")


class ConsoleConfig(BaseModel):
    """The web console (`renkei serve`)."""

    model_config = {"extra": "forbid"}
    host: str = Field("127.0.0.1", description="address to listen on; 127.0.0.1 keeps it on this machine")
    port: int = Field(8765, ge=1, le=65535)
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "[::1]"],
        description="names the browser may use in the Host header (DNS rebinding is refused)",
    )
    tls_cert: Path | None = Field(None, description="PEM certificate; with tls_key, the console speaks HTTPS only")
    tls_key: Path | None = None
    idle_timeout_minutes: float = Field(15, gt=0, description="a session ends after this long without a request")

    @model_validator(mode="after")
    def _tls_pair(self) -> ConsoleConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
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
    gates: GatesConfig = Field(default_factory=GatesConfig)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)


class RenkeiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(1, ge=1, le=1)
    data_dir: Path | None = None
    timezone: str = Field("Asia/Tokyo", description="the site's time zone (IANA); device clocks default to it")
    templates_dir: Path | None = Field(None, description="site templates, searched before the shipped ones")
    phrases_dir: Path | None = Field(None, description="site fixed phrases (YAML), added to the shipped library")
    mappings_dir: Path | None = Field(None, description="site mapping specs and code tables (overlay)")
    sensitivity: list[SensitivityRule] = Field(default_factory=lambda: list(DEFAULT_SENSITIVITY))
    viewers: dict[str, ViewerConfig] = Field(default_factory=dict)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    notifications: NotificationsConfig | None = Field(None, description="digests by e-mail and Matrix notice")
    connectors: dict[str, ConnectorConfig]
    pipelines: list[PipelineConfig] = Field(default_factory=list)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    push_gates: GatesConfig = Field(
        default_factory=lambda: GatesConfig(approval=ApprovalGate()),
        description="level 3 pushes: consent scope, and the sensitivity levels that wait for a physician",
    )

    @model_validator(mode="after")
    def _privacy_names_connectors(self) -> RenkeiConfig:
        unknown = sorted(set(self.privacy.destinations) - set(self.connectors))
        if unknown:
            raise ValueError(f"privacy.destinations names unknown connectors: {', '.join(unknown)}")
        notice = self.notifications.matrix if self.notifications else None
        if notice and (notice.connector not in self.connectors or self.connectors[notice.connector].type != "matrix"):
            raise ValueError(f"notifications.matrix.connector: {notice.connector!r} is not a connector of type matrix")
        return self

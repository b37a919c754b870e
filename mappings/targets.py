"""Target payload schemas (pydantic) that shipped mapping specs validate against.

These describe what renkei sends to (or receives from) a care-SNS timeline at integration level 4.
A site with a different SNS writes its own models and names them in its overlay specs as
`target: {model: "package.module:Class"}`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

_HALF_KANA = re.compile(r"^[\uff61-\uff9f A-Za-z0-9.\-]*$")


class SnsProfile(BaseModel):
    """A patient's profile card in a care-SNS group (one invite-only group per patient)."""

    model_config = ConfigDict(extra="forbid")
    patient_id: str = Field(min_length=1)
    display_name: str = Field(min_length=1)
    name_kana: str | None = None  # half-width katakana, as many SNS and receipt systems still store it
    age: int | None = Field(None, ge=0, le=150)
    birth_date_wareki: str | None = None  # e.g. 昭和45年4月5日
    sex: Literal["male", "female", "other", "unknown"]
    postcode: str | None = Field(None, pattern=r"^\d{3}-\d{4}$")
    address: str | None = None  # at most 64 bytes in cp932 (the SNS's column is a Shift_JIS VARCHAR(64))

    @field_validator("name_kana")
    @classmethod
    def _half_width_kana(cls, v: str | None) -> str | None:
        if v is not None and not _HALF_KANA.match(v):
            raise ValueError("must be half-width katakana")
        return v

    @field_validator("address")
    @classmethod
    def _fits_cp932_64(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                size = len(v.encode("cp932"))
            except UnicodeEncodeError as exc:
                raise ValueError("must be encodable in cp932") from exc
            if size > 64:
                raise ValueError(f"must be at most 64 bytes in cp932, is {size}")
        return v


class SnsVitalItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    value: float
    unit: str
    abnormal: Literal["H", "L", "HH", "LL", "N", "A"] | None = None


class SnsVitalsPost(BaseModel):
    """A flat vital-sign / lab post to a patient's timeline: one time, several items."""

    model_config = ConfigDict(extra="forbid")
    patient_id: str = Field(min_length=1)
    measured_at: AwareDatetime
    items: list[SnsVitalItem] = Field(min_length=1)


class SnsVitalEntry(BaseModel):
    """One reading a visiting nurse typed into the care SNS (the input of the reverse mapping)."""

    model_config = ConfigDict(extra="forbid")
    patient_id: str = Field(min_length=1)
    measured_at: AwareDatetime
    item: str
    value: float
    unit: str
    entered_by: str | None = None  # SNS staff id, not a name

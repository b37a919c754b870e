"""The pydantic model of a mapping spec file (the language itself is documented in LANGUAGE.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from renkei.records import RecordKind

_CONFIG = ConfigDict(extra="forbid", populate_by_name=True)


def _from_shorthand(v: Any) -> Any:
    """`name: some.path` is short for `name: {from: some.path}`."""
    if isinstance(v, dict):
        return {k: {"from": x} if isinstance(x, str) else x for k, x in v.items()}
    return v


class Condition(BaseModel):
    """`when:` / `filter:` — a test on one path, or all/any/not of other conditions."""

    model_config = _CONFIG
    path: str | None = None
    exists: bool | None = None
    eq: Any = None
    ne: Any = None
    in_: list[Any] | None = Field(None, alias="in")
    not_in: list[Any] | None = None
    matches: str | None = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = self.model_fields_set & {"exists", "eq", "ne", "in_", "not_in", "matches"}
        combos = self.model_fields_set & {"all", "any", "not_"}
        if combos:
            if len(combos) > 1 or tests or self.path is not None:
                raise ValueError("use exactly one of all / any / not, without path or tests beside it")
        elif self.path is None or len(tests) != 1:
            raise ValueError("a condition needs `path` and exactly one of exists / eq / ne / in / not_in / matches")
        return self


class Node(BaseModel):
    """One output value: from the input (`from`), a constant (`value`), an object (`fields`), a list
    built per input item (`each` + `fields`/`item`) or a fixed list (`items`)."""

    model_config = _CONFIG
    from_: str | list[str] | None = Field(None, alias="from")
    value: Any = None
    each: str | None = None
    filter: Condition | None = None
    fields: dict[str, Node] | None = None
    item: Node | None = None
    items: list[Node] | None = None
    when: Condition | None = None
    vars: dict[str, Node] | None = None
    default: Any = None
    required: bool = False
    convert: list[str | dict[str, Any]] = Field(default_factory=list)

    @field_validator("fields", "vars", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return _from_shorthand(v)

    @field_validator("items", mode="before")
    @classmethod
    def _items_shorthand(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"from": x} if isinstance(x, str) else x for x in v]
        return v

    @property
    def kind(self) -> Literal["value", "object", "each", "items"]:
        if self.each is not None:
            return "each"
        if self.items is not None:
            return "items"
        if self.fields is not None:
            return "object"
        return "value"

    @model_validator(mode="after")
    def _shape(self) -> Node:
        has = self.model_fields_set
        kind = self.kind
        allowed = {"when", "vars", "required"} | {
            "value": {"from_", "value", "default", "convert"},
            "object": {"fields", "from_"},
            "each": {"each", "filter", "fields", "item"},
            "items": {"items"},
        }[kind]
        extra = has - allowed
        if extra:
            names = ", ".join(sorted("from" if e == "from_" else e for e in extra))
            raise ValueError(f"a {kind} node cannot have: {names}")
        if kind == "value" and not has & {"from_", "value"}:
            raise ValueError("a field needs one of from / value / fields / each / items")
        if kind == "value" and {"from_", "value"} <= has:
            raise ValueError("use either from or value, not both")
        if kind == "each" and (self.fields is None) == (self.item is None):
            raise ValueError("each needs exactly one of fields / item")
        return self


class SourceSpec(BaseModel):
    model_config = _CONFIG
    record: RecordKind | None = None
    model: str | None = None  # "package.module:Class" of a pydantic model
    many: bool = False

    @model_validator(mode="after")
    def _one(self) -> SourceSpec:
        if (self.record is None) == (self.model is None):
            raise ValueError("source needs exactly one of record / model")
        return self


class TargetSpec(BaseModel):
    model_config = _CONFIG
    model: str | None = None  # "package.module:Class" of a pydantic model
    fhir: str | None = None  # an R4B resource type, validated with fhir.resources.R4B
    record: RecordKind | None = None  # a canonical record (reverse mappings)

    @model_validator(mode="after")
    def _one(self) -> TargetSpec:
        if len(self.model_fields_set & {"model", "fhir", "record"}) != 1:
            raise ValueError("target needs exactly one of model / fhir / record")
        return self


class Spec(BaseModel):
    model_config = _CONFIG
    name: str | None = None
    description: str = ""
    direction: Literal["to_target", "to_canonical"] = "to_target"
    source: SourceSpec | None = None
    target: TargetSpec | None = None
    vars: dict[str, Node] = Field(default_factory=dict)
    fields: dict[str, Node]

    @field_validator("fields", "vars", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return _from_shorthand(v)

    @model_validator(mode="after")
    def _direction(self) -> Spec:
        if self.direction == "to_canonical" and (self.target is None or self.target.record is None):
            raise ValueError("a to_canonical mapping needs `target: {record: <kind>}`")
        return self

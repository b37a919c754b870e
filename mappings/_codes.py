"""Code tables: one YAML file per table under `specs/codes/`, looked up by the `code` conversion.

    description: HL7 table 0001 (administrative sex) → care-SNS sex
    on_miss: error          # error | default | pass   (a spec's `code` step may override)
    default: unknown        # used by on_miss: default
    entries:
      M: male
      F: female

An entry's value may be a mapping (e.g. item name, label and unit of a JLAC10 code); the `code` step
then picks one key with `field`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from renkei.mappings._yaml import YamlDoc, plain
from renkei.mappings.errors import MappingSpecError, MappingValueError


class OnMiss(StrEnum):
    ERROR = "error"
    DEFAULT = "default"
    PASS = "pass"


class _TableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    on_miss: OnMiss = OnMiss.ERROR
    default: Any = None
    entries: dict[str, Any]


class CodeTable:
    def __init__(self, name: str, spec: _TableSpec, doc: YamlDoc | None = None) -> None:
        self.name = name
        self.on_miss = spec.on_miss
        self.default = spec.default
        self.entries = spec.entries
        self._doc = doc
        self._reverse: dict[str | None, dict[str, str]] = {}

    @classmethod
    def load(cls, name: str, doc: YamlDoc) -> CodeTable:
        try:
            spec = _TableSpec.model_validate(plain(doc.data))
        except ValidationError as exc:
            raise doc.from_validation(exc) from exc
        return cls(name, spec, doc)

    def reverse_index(self, field: str | None) -> dict[str, str]:
        """value (or value[field]) → code; built once per field, and refused if ambiguous."""
        if field not in self._reverse:
            index: dict[str, str] = {}
            for code, entry in self.entries.items():
                key = self._pick(entry, field)
                if key is None:
                    continue
                key = str(key)
                if key in index:
                    where = self._doc.error(("entries", code), "") if self._doc else None
                    raise MappingSpecError(
                        f"code table {self.name!r}: value {key!r} maps back to both {index[key]!r} and {code!r}"
                        + (f" ({where.errors[0][0]}, line {where.errors[0][1]})" if where else ""),
                        [(self.name, None, "ambiguous reverse lookup")],
                    )
                index[key] = code
            self._reverse[field] = index
        return self._reverse[field]

    def _pick(self, entry: Any, field: str | None) -> Any:
        if field is None:
            return entry
        if not isinstance(entry, dict) or field not in entry:
            return None
        return entry[field]

    def has_field(self, field: str) -> bool:
        return any(isinstance(e, dict) and field in e for e in self.entries.values())

    def lookup(
        self,
        code: Any,
        *,
        field: str | None = None,
        reverse: bool = False,
        on_miss: OnMiss | None = None,
        default: Any = None,
        has_default: bool = False,
    ) -> Any:
        key = str(code)
        if reverse:
            found = self.reverse_index(field).get(key)
        else:
            entry = self.entries.get(key)
            found = None if entry is None else self._pick(entry, field)
        if found is not None:
            return found
        behaviour = on_miss or self.on_miss
        if behaviour is OnMiss.PASS:
            return code
        if behaviour is OnMiss.DEFAULT:
            return default if has_default else self.default
        raise MappingValueError(f"code not in table {self.name!r}", value=code)

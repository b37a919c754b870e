"""Errors of the mapping engine, typed by what the operator should do.

    RenkeiError
    └── MappingError                      base of everything below
        ├── MappingSpecError (+ConfigError)   a spec or code table is broken: fix the YAML; `errors`
        │                                     lists (file:yaml.path, line, reason)
        ├── MappingValueError (+InputError)   one input could not be mapped (required field missing,
        │   │                                 code-table miss, unparsable date…): quarantine the input
        │   └── MappingValidationError        the result does not validate against the target schema
        └── MappingNotFoundError (+NotFoundError)  no spec or code table of that name

Where the patient-data line is drawn: `str(error)` names the mapping, the target field, the source
path and only the *shape* of the offending value (type and length), because exception texts end up in
logs and quarantine reasons. The value itself is kept on `error.value` and shown only by
`error.operator_text()`, which `renkei mapping test/apply` prints to the operator's own terminal.
"""

from __future__ import annotations

from typing import Any

from renkei.errors import ConfigError, InputError, NotFoundError, RenkeiError

_MISSING = object()


def describe_shape(value: Any) -> str:
    """A log-safe description of a value: its type and size, never its content."""
    if value is _MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"str of {len(value)} chars" if value else "empty str"
    if isinstance(value, list | tuple | dict):
        return f"{type(value).__name__} of {len(value)}"
    return type(value).__name__


class MappingError(RenkeiError):
    """Base of the mapping engine's errors."""


class MappingSpecError(MappingError, ConfigError):
    """A mapping spec or code table is invalid. Each entry of `errors` is (location, line, reason)."""


class MappingNotFoundError(MappingError, NotFoundError):
    pass


class MappingValueError(MappingError, InputError):
    """An input could not be mapped. The message names mapping, target field and source path."""

    def __init__(
        self,
        reason: str,
        *,
        mapping: str = "",
        field: str = "",
        source: str = "",
        value: Any = _MISSING,
    ) -> None:
        self.reason = reason
        self.mapping = mapping
        self.field = field
        self.source = source
        self.value = value  # patient data: only operator_text() shows it
        super().__init__(self._text(reveal=False))

    def with_context(self, *, mapping: str = "", field: str = "", source: str = "") -> MappingValueError:
        """Fill in where the error happened (inner code raises it without knowing the spec)."""
        self.mapping = self.mapping or mapping
        self.field = self.field or field
        self.source = self.source or source
        self.args = (self._text(reveal=False),)
        return self

    def _text(self, *, reveal: bool) -> str:
        where = [f"mapping {self.mapping!r}" if self.mapping else "mapping"]
        if self.field:
            where.append(f"field {self.field!r}")
        if self.source:
            where.append(f"from {self.source!r}")
        if self.value is _MISSING:
            shown = ""
        elif reveal:
            shown = f" (input value {self.value!r})"
        else:
            shown = f" (input value: {describe_shape(self.value)})"
        return f"{', '.join(where)}: {self.reason}{shown}"

    def operator_text(self) -> str:
        """The message with the offending value itself, for the operator's terminal only — never log it."""
        return self._text(reveal=True)


class MappingValidationError(MappingValueError):
    """The mapped output does not validate against the target schema; `problems` are (field, reason)."""

    def __init__(self, reason: str, *, mapping: str, schema: str, problems: list[tuple[str, str]]) -> None:
        self.schema = schema
        self.problems = problems
        fields = ", ".join(p[0] for p in problems)
        super().__init__(
            f"result does not validate against {schema}: {reason}",
            mapping=mapping,
            field=fields,
        )

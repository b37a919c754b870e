"""The evaluators a compiled mapping is made of: each takes a Scope (the current value, the root input,
the caller's context and the mapping's vars) and returns the value of one field, object or list."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from renkei.mappings import _convert
from renkei.mappings.errors import _MISSING, MappingValueError

Loc = tuple[str | int, ...]


class Scope:
    __slots__ = ("context", "current", "root", "vars")

    def __init__(self, current: Any, root: Any, context: dict[str, Any], vars: dict[str, Any]) -> None:
        self.current = current
        self.root = root
        self.context = context
        self.vars = vars


Getter = Callable[[Scope], Any]
_PATH_PART = re.compile(r"^[^.\s]+$")


def _walk(value: Any, parts: tuple[str | int, ...]) -> Any:
    for part in parts:
        if isinstance(value, dict):
            value = value.get(part if isinstance(part, str) else str(part))
        elif isinstance(value, list) and isinstance(part, int):
            value = value[part] if -len(value) <= part < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


@dataclass(slots=True)
class _Step:
    conv: _convert.Conversion
    args: dict[str, Any]
    refs: dict[str, Getter]

    def run(self, value: Any, scope: Scope) -> Any:
        args = self.args
        if self.refs:
            args = {**args, **{k: g(scope) for k, g in self.refs.items()}}
        if isinstance(value, list) and not self.conv.takes_lists:
            # Element-wise on lists (e.g. strip every phone number); missing elements stay missing.
            return [None if _convert.is_missing(v) else self.conv.fn(v, args) for v in value]
        return self.conv.fn(value, args)


class _Eval:
    __slots__ = ("required", "vars", "when")

    def __init__(self, when: Callable[[Scope], bool] | None, vars_: list[tuple[str, _Eval]], required: bool) -> None:
        self.when = when
        self.vars = vars_
        self.required = required

    def __call__(self, scope: Scope, field: str, mapping: str) -> Any:
        if self.vars:
            local = dict(scope.vars)
            scope = Scope(scope.current, scope.root, scope.context, local)
            for name, ev in self.vars:
                local[name] = ev(scope, f"{field}${name}", mapping)
        if self.when is not None and not self.when(scope):
            return None
        out = self.eval(scope, field, mapping)
        if self.required and _convert.is_missing(out):
            source = getattr(self, "source", "")
            raise MappingValueError("required value is missing", mapping=mapping, field=field, source=source)
        return out

    def eval(self, scope: Scope, field: str, mapping: str) -> Any:
        raise NotImplementedError


class _ValueEval(_Eval):
    __slots__ = ("default", "get", "has_default", "source", "steps")

    def __init__(
        self,
        when: Any,
        vars_: Any,
        required: bool,
        get: Getter,
        source: str,
        steps: list[_Step],
        default: Any,
        has_default: bool,
    ) -> None:
        super().__init__(when, vars_, required)
        self.get, self.source, self.steps = get, source, steps
        self.default, self.has_default = default, has_default

    def eval(self, scope: Scope, field: str, mapping: str) -> Any:
        value = self.get(scope)
        if isinstance(value, list) and value and all(_convert.is_missing(v) for v in value):
            value = None
        for step in self.steps:
            if _convert.is_missing(value):
                break
            original = value
            try:
                value = step.run(value, scope)
            except MappingValueError as exc:
                if exc.value is _MISSING:
                    exc.value = original
                exc.with_context(mapping=mapping, field=field, source=f"{self.source} | {step.conv.name}")
                raise
            except (TypeError, ValueError, ArithmeticError) as exc:
                raise MappingValueError(
                    f"{step.conv.name} failed: {type(exc).__name__}",
                    mapping=mapping,
                    field=field,
                    source=self.source,
                    value=original,
                ) from exc
        if _convert.is_missing(value) and self.has_default:
            return self.default
        return value


class _ObjectEval(_Eval):
    __slots__ = ("fields", "scope_get")

    def __init__(
        self, when: Any, vars_: Any, required: bool, fields: list[tuple[str, _Eval]], scope_get: Getter | None
    ) -> None:
        super().__init__(when, vars_, required)
        self.fields, self.scope_get = fields, scope_get

    def eval(self, scope: Scope, field: str, mapping: str) -> Any:
        if self.scope_get is not None:
            inner = self.scope_get(scope)
            if _convert.is_missing(inner):
                return None
            scope = Scope(inner, scope.root, scope.context, scope.vars)
        out: dict[str, Any] = {}
        prefix = f"{field}." if field else ""
        for name, ev in self.fields:
            value = ev(scope, prefix + name, mapping)
            if not _convert.is_missing(value):
                out[name] = value
        return out or None


class _EachEval(_Eval):
    __slots__ = ("each_get", "item", "item_filter")

    def __init__(self, when: Any, vars_: Any, required: bool, each_get: Getter, item_filter: Any, item: _Eval) -> None:
        super().__init__(when, vars_, required)
        self.each_get, self.item_filter, self.item = each_get, item_filter, item

    def eval(self, scope: Scope, field: str, mapping: str) -> Any:
        items = self.each_get(scope)
        if _convert.is_missing(items):
            return None
        if not isinstance(items, list):
            items = [items]
        out = []
        for i, item in enumerate(items):
            inner = Scope(item, scope.root, scope.context, scope.vars)
            if self.item_filter is not None and not self.item_filter(inner):
                continue
            value = self.item(inner, f"{field}[{i}]", mapping)
            if not _convert.is_missing(value):
                out.append(value)
        return out or None


class _ItemsEval(_Eval):
    __slots__ = ("items",)

    def __init__(self, when: Any, vars_: Any, required: bool, items: list[_Eval]) -> None:
        super().__init__(when, vars_, required)
        self.items = items

    def eval(self, scope: Scope, field: str, mapping: str) -> Any:
        out = [
            v for i, ev in enumerate(self.items) if not _convert.is_missing(v := ev(scope, f"{field}[{i}]", mapping))
        ]
        return out or None

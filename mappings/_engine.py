"""Compile a spec once into a tree of small evaluators, then apply it to any number of inputs.

Compiling resolves everything that does not depend on the record — paths, conversion arguments,
code tables, the target schema class — so applying a mapping is plain dict walking and function calls.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from renkei.mappings import _convert
from renkei.mappings._codes import CodeTable
from renkei.mappings._evaluators import (
    _PATH_PART,
    Getter,
    Loc,
    Scope,
    _EachEval,
    _Eval,
    _ItemsEval,
    _jsonable,
    _ObjectEval,
    _Step,
    _ValueEval,
    _walk,
)
from renkei.mappings._spec import Condition, Node, Spec
from renkei.mappings._yaml import YamlDoc, dotted
from renkei.mappings.errors import MappingNotFoundError, MappingValidationError, MappingValueError
from renkei.records import Record, RecordKind


class _Compiler:
    """Turns a validated `Spec` into evaluators; errors carry the YAML file and line."""

    def __init__(self, name: str, doc: YamlDoc, tables: Callable[[str], CodeTable]) -> None:
        self.name = name
        self.doc = doc
        self.tables = tables

    def path(self, text: str, loc: Loc) -> Getter:
        """`a.b.0.c` (current scope), `.` (the scope itself), `$var.x`, `$input.x`, `$context.x`."""
        if text in (".", ""):
            return lambda s: s.current
        raw = text.split(".")
        if not all(_PATH_PART.match(p) for p in raw):
            raise self.doc.error(loc, f"bad path {text!r}: use dotted names like `code.code` or `$var.field`")
        parts = tuple(int(p) if p.lstrip("-").isdigit() else p for p in raw)
        head = parts[0]
        if isinstance(head, str) and head.startswith("$"):
            rest = parts[1:]
            if head == "$input":
                return lambda s: _walk(s.root, rest)
            if head == "$context":
                return lambda s: _walk(s.context, rest)
            var = head[1:]
            return lambda s: _walk(s.vars.get(var), rest)
        return lambda s: _walk(s.current, parts)

    def ref_or_const(self, value: Any, loc: Loc) -> tuple[bool, Any]:
        """Arguments: `$…` is a var/input/context path, `@a.b` a path in the current scope, `$$`/`@@` escape."""
        if isinstance(value, str) and value[:1] in ("$", "@"):
            if value[:2] in ("$$", "@@"):
                return False, value[1:]
            return True, self.path(value[1:] if value[0] == "@" else value, loc)
        return False, value

    def condition(self, cond: Condition, loc: Loc) -> Callable[[Scope], bool]:
        if cond.all is not None:
            subs = [self.condition(c, (*loc, "all", i)) for i, c in enumerate(cond.all)]
            return lambda s: all(f(s) for f in subs)
        if cond.any is not None:
            subs = [self.condition(c, (*loc, "any", i)) for i, c in enumerate(cond.any)]
            return lambda s: any(f(s) for f in subs)
        if cond.not_ is not None:
            sub = self.condition(cond.not_, (*loc, "not"))
            return lambda s: not sub(s)
        assert cond.path is not None
        get = self.path(cond.path, (*loc, "path"))
        test = next(iter(cond.model_fields_set & {"exists", "eq", "ne", "in_", "not_in", "matches"}))
        if test == "exists":
            want = bool(cond.exists)
            return lambda s: (not _convert.is_missing(get(s))) == want
        if test == "eq":
            eq = cond.eq
            return lambda s: get(s) == eq
        if test == "ne":
            ne = cond.ne
            return lambda s: get(s) != ne
        if test == "in_":
            options = list(cond.in_ or [])
            return lambda s: get(s) in options
        if test == "not_in":
            excluded = list(cond.not_in or [])
            return lambda s: get(s) not in excluded
        try:
            pattern = re.compile(cond.matches or "")
        except re.error as exc:
            raise self.doc.error((*loc, "matches"), f"bad regular expression: {exc}") from exc
        return lambda s: isinstance(v := get(s), str) and pattern.search(v) is not None

    def step(self, raw: str | dict[str, Any], loc: Loc) -> _Step:
        if isinstance(raw, str):
            name, given = raw, None
        elif len(raw) == 1:
            name, given = next(iter(raw.items()))
            loc = (*loc, name)
        else:
            raise self.doc.error(loc, "a conversion is a name or a mapping with one key: {name: args}")
        conv = _convert.REGISTRY.get(name)
        if conv is None:
            known = ", ".join(sorted(_convert.REGISTRY))
            raise self.doc.error(loc, f"unknown conversion {name!r} (known: {known})")
        if conv.args is None:
            if given not in (None, {}):
                raise self.doc.error(loc, f"conversion {name!r} takes no arguments")
            return _Step(conv, {}, {})
        if given is None:
            given = {}
        elif not isinstance(given, dict):
            if conv.primary is None:
                raise self.doc.error(loc, f"conversion {name!r} takes its arguments as a mapping")
            given = {conv.primary: given}
        try:
            model = conv.args.model_validate(given)
        except ValidationError as exc:
            reasons = "; ".join(f"{dotted(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))
            raise self.doc.error(loc, f"conversion {name!r}: {reasons}") from exc
        args = model.model_dump()
        args["_set"] = frozenset(model.model_fields_set)
        refs: dict[str, Getter] = {}
        for key in conv.refs:
            is_ref, got = self.ref_or_const(args[key], loc)
            if is_ref:
                refs[key] = got
            else:
                args[key] = got
        if name == "code":
            try:
                table = self.tables(args["table"])
            except MappingNotFoundError as exc:
                raise self.doc.error((*loc, "table") if isinstance(given, dict) else loc, str(exc)) from exc
            if args["field"] and not table.has_field(args["field"]):
                raise self.doc.error(loc, f"code table {table.name!r} has no entry with field {args['field']!r}")
            if args["reverse"]:
                table.reverse_index(args["field"])  # fail at load, not on the first record
            args["table"] = table
        return _Step(conv, args, refs)

    def node(self, node: Node, loc: Loc) -> _Eval:
        when = self.condition(node.when, (*loc, "when")) if node.when else None
        vars_ = self.vars(node.vars or {}, (*loc, "vars"))
        kind = node.kind
        if kind == "value":
            if "from_" in node.model_fields_set:
                src = node.from_
                if isinstance(src, list):
                    getters = [self.path(p, (*loc, "from", i)) for i, p in enumerate(src)]
                    get: Getter = lambda s: [g(s) for g in getters]  # noqa: E731
                    source = "[" + ", ".join(src) + "]"
                else:
                    get, source = self.path(src or "", (*loc, "from")), src or "."
            else:
                constant = _jsonable(node.value)
                get, source = (lambda s: constant), "(value)"
            steps = [self.step(raw, (*loc, "convert", i)) for i, raw in enumerate(node.convert)]
            return _ValueEval(
                when,
                vars_,
                node.required,
                get,
                source,
                steps,
                _jsonable(node.default),
                "default" in node.model_fields_set,
            )
        if kind == "object":
            assert node.fields is not None
            scope_get = self.path(node.from_, (*loc, "from")) if isinstance(node.from_, str) else None
            fields = self.fields(node.fields, (*loc, "fields"))
            return _ObjectEval(when, vars_, node.required, fields, scope_get)
        if kind == "each":
            assert node.each is not None
            each_get = self.path(node.each, (*loc, "each"))
            item_filter = self.condition(node.filter, (*loc, "filter")) if node.filter else None
            if node.fields is not None:
                item: _Eval = _ObjectEval(None, [], False, self.fields(node.fields, (*loc, "fields")), None)
            else:
                assert node.item is not None
                item = self.node(node.item, (*loc, "item"))
            return _EachEval(when, vars_, node.required, each_get, item_filter, item)
        assert node.items is not None
        items = [self.node(n, (*loc, "items", i)) for i, n in enumerate(node.items)]
        return _ItemsEval(when, vars_, node.required, items)

    def fields(self, fields: dict[str, Node], loc: Loc) -> list[tuple[str, _Eval]]:
        return [(name, self.node(n, (*loc, name))) for name, n in fields.items()]

    def vars(self, vars_: dict[str, Node], loc: Loc) -> list[tuple[str, _Eval]]:
        return [(name, self.node(n, (*loc, name))) for name, n in vars_.items()]


def _import_model(ref: str) -> type[BaseModel]:
    module_name, _, attr = ref.partition(":")
    if not attr:
        raise ValueError(f"{ref!r}: write a model as 'package.module:Class'")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        raise ValueError(f"{ref!r} is not a pydantic model")
    return cls


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    return [(dotted(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]


class Mapping:
    """A compiled mapping spec. Build with `load_mapping(name)`; call `apply(input, context)`."""

    def __init__(self, name: str, path: Path, spec: Spec, doc: YamlDoc, tables: Callable[[str], CodeTable]) -> None:
        self.name = name
        self.path = path
        self.spec = spec
        self.description = spec.description
        compiler = _Compiler(name, doc, tables)
        self._vars = compiler.vars(spec.vars, ("vars",))
        self._root = _ObjectEval(None, self._vars, False, compiler.fields(spec.fields, ("fields",)), None)
        self._source_model: type[BaseModel] | None = None
        self._target_check: Callable[[dict[str, Any]], None] | None = None
        self.target_schema = ""
        try:
            if spec.source and spec.source.model:
                self._source_model = _import_model(spec.source.model)
            if spec.target:
                self._target_check = self._target(spec)
        except (ImportError, AttributeError, ValueError) as exc:
            key = "source" if spec.source and spec.source.model and self._source_model is None else "target"
            raise doc.error((key,), f"cannot load schema: {exc}") from exc

    def _target(self, spec: Spec) -> Callable[[dict[str, Any]], None]:
        target = spec.target
        assert target is not None
        if target.model:
            model = _import_model(target.model)
            self.target_schema = target.model
            return lambda out: self._validate(model, out)
        if target.fhir:
            from fhir.resources.R4B import get_fhir_model_class  # JP Core is R4 (4.0.1); R4B is closest

            try:
                resource = get_fhir_model_class(target.fhir)
            except (KeyError, ValueError) as exc:
                raise ValueError(f"unknown FHIR R4B resource type {target.fhir!r}") from exc
            self.target_schema = f"FHIR R4B {target.fhir}"
            kind = target.fhir

            def check_fhir(out: dict[str, Any]) -> None:
                if out.get("resourceType") != kind:
                    raise MappingValidationError(
                        "wrong resourceType",
                        mapping=self.name,
                        schema=self.target_schema,
                        problems=[("resourceType", f"must be {kind!r}")],
                    )
                self._validate(resource, out)

            return check_fhir
        assert target.record is not None
        record_kind = target.record
        self.target_schema = f"canonical {record_kind.value}"
        return lambda out: self._validate_record(record_kind, out)

    def _validate(self, model: type[BaseModel], out: dict[str, Any]) -> None:
        try:
            model.model_validate(out)
        except ValidationError as exc:
            raise MappingValidationError(
                f"{exc.error_count()} problem(s)", mapping=self.name, schema=self.target_schema, problems=_problems(exc)
            ) from exc

    def _validate_record(self, kind: RecordKind, out: dict[str, Any]) -> None:
        problems: list[tuple[str, str]] = []
        if out.get("kind") != kind.value:
            problems.append(("kind", f"must be {kind.value!r}"))
        else:
            try:
                Record.from_dict(out)
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(("(record)", f"{type(exc).__name__}: {str(exc).split(':')[0]}"))
        if problems:
            raise MappingValidationError(
                "not a valid record", mapping=self.name, schema=self.target_schema, problems=problems
            )

    def _check_source(self, data: Any) -> None:
        src = self.spec.source
        if src is None:
            return
        items = data if isinstance(data, list) else [data]
        if src.many != isinstance(data, list):
            want = "a list of inputs" if src.many else "one input, not a list"
            raise MappingValueError(f"expects {want}", mapping=self.name, field="(input)")
        for i, item in enumerate(items):
            where = f"(input)[{i}]" if src.many else "(input)"
            if src.record is not None:
                if not isinstance(item, dict) or item.get("kind") != src.record.value:
                    got = item.get("kind") if isinstance(item, dict) else type(item).__name__
                    raise MappingValueError(
                        f"expects a {src.record.value} record, got {got!r}", mapping=self.name, field=where
                    )
            elif self._source_model is not None:
                try:
                    self._source_model.model_validate(item)
                except ValidationError as exc:
                    bad = ", ".join(p for p, _ in _problems(exc))
                    raise MappingValueError(
                        f"input does not match {self.spec.source.model}: {bad}", mapping=self.name, field=where
                    ) from exc

    def apply(
        self, data: dict[str, Any] | Record | Sequence[dict[str, Any] | Record], context: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Map one input (a record, its `to_dict()` form or a target payload) or a list of them.

        `context` holds values that are not in the input, e.g. `{"at": "2024-04-01"}` for age_at; specs
        read it as `$context.<key>`. Raises MappingValueError (incl. MappingValidationError)."""
        if isinstance(data, Record):
            data = data.to_dict()
        elif isinstance(data, list | tuple):
            data = [d.to_dict() if isinstance(d, Record) else d for d in data]
        self._check_source(data)
        scope = Scope(data, data, dict(context or {}), {})
        out = self._root(scope, "", self.name) or {}
        if self._target_check is not None:
            self._target_check(out)
        return out

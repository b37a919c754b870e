"""The registry of conversions a spec's `convert:` list may name, each a small function.

A conversion is `fn(value, args) -> value`; `args` is the step's validated arguments as a dict, with
`$…` references already resolved for this record. Conversions raise `MappingValueError` with the
reason only; the engine adds mapping, field and source path. See LANGUAGE.md for each one's arguments.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from renkei.mappings import _dates, _text, _units
from renkei.mappings._codes import CodeTable, OnMiss
from renkei.mappings.errors import MappingValueError


def is_missing(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Conversion:
    name: str
    fn: Callable[[Any, dict[str, Any]], Any]
    args: type[Args] | None = None
    primary: str | None = None  # the argument a scalar shorthand (`width: half`) sets
    refs: frozenset[str] = field(default_factory=frozenset)  # arguments that may be `$path` references
    takes_lists: bool = False  # runs on a list from `from: [a, b]` (else lists are refused)


REGISTRY: dict[str, Conversion] = {}


def register(conv: Conversion) -> None:
    REGISTRY[conv.name] = conv


def _num(value: Any) -> float | int:
    if isinstance(value, bool):
        raise MappingValueError("expected a number, got a boolean", value=value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.lstrip("+-").isdigit():
                return int(text)
            return float(text)
        except ValueError:
            pass
    raise MappingValueError("not a number", value=value)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise MappingValueError("expected text", value=value)
    return value


# --- dates -------------------------------------------------------------------------------------------


class AgeAtArgs(Args):
    at: date | str = "$context.at"
    rule: Literal["legal", "birthday"] = "legal"


def _age_at(value: Any, a: dict[str, Any]) -> int:
    birth = _dates.parse_when(value)
    if is_missing(a["at"]):
        raise MappingValueError("age_at needs a date: `at` resolved to nothing", value=value)
    at = _dates.parse_when(a["at"])
    return _dates.age_at(birth, at, a["rule"])  # type: ignore[arg-type]


class DateFormatArgs(Args):
    to: str = "iso"
    parse: Literal["auto", "hl7", "iso"] = "auto"
    assume_tz: str | None = None  # zone for date-times without one (HL7 TS usually has none)
    tz: str | None = None  # convert aware date-times to this zone before formatting

    @field_validator("assume_tz", "tz")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        if v is not None:
            _dates.parse_tz(v)
        return v


def _date_format(value: Any, a: dict[str, Any]) -> str:
    when = _dates.parse_when(value, a["parse"])
    if isinstance(when, datetime):
        if when.tzinfo is None and a["assume_tz"]:
            when = when.replace(tzinfo=_dates.parse_tz(a["assume_tz"]))
        if a["tz"] and when.tzinfo is not None:
            when = when.astimezone(_dates.parse_tz(a["tz"]))
    return _dates.format_when(when, a["to"])


# --- numbers and units -------------------------------------------------------------------------------


class UnitArgs(Args):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field("@unit", alias="from")  # the source unit: by default the record's own `unit`
    to: str
    analyte: str | None = None


def _unit(value: Any, a: dict[str, Any]) -> float:
    if is_missing(a["from_"]):
        raise MappingValueError("unit conversion needs the source unit: `from` resolved to nothing", value=value)
    return _units.convert_unit(float(_num(value)), str(a["from_"]), a["to"], a["analyte"])


class RoundArgs(Args):
    digits: int = 0


def _round(value: Any, a: dict[str, Any]) -> float | int:
    number = _num(value)
    return round(number) if a["digits"] == 0 else round(float(number), a["digits"])


def _integer(value: Any, a: dict[str, Any]) -> int:
    number = _num(value)
    if isinstance(number, float) and not number.is_integer():
        raise MappingValueError("not a whole number", value=value)
    return int(number)


def _string(value: Any, a: dict[str, Any]) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if a["trim_zero"] else str(value)
    return str(value)


class StringArgs(Args):
    trim_zero: bool = True  # 120.0 → "120"


# --- code tables -------------------------------------------------------------------------------------


class CodeArgs(Args):
    table: str
    field: str | None = None
    reverse: bool = False
    on_miss: OnMiss | None = None
    default: Any = None


def _code(value: Any, a: dict[str, Any]) -> Any:
    table: CodeTable = a["table"]  # the engine swaps the name for the loaded table at compile time
    if isinstance(value, dict) and "code" in value:
        value = value["code"]  # a canonical Coding
    return table.lookup(
        value,
        field=a["field"],
        reverse=a["reverse"],
        on_miss=a["on_miss"],
        default=a["default"],
        has_default="default" in a["_set"],
    )


# --- text --------------------------------------------------------------------------------------------


class TruncateArgs(Args):
    length: int
    unit: Literal["chars", "bytes"] = "chars"
    encoding: str = "cp932"


def _truncate(value: Any, a: dict[str, Any]) -> str:
    return _text.truncate(_str(value), a["length"], a["encoding"] if a["unit"] == "bytes" else None)


class PadArgs(TruncateArgs):
    side: Literal["left", "right"] = "right"
    char: str = " "


def _pad(value: Any, a: dict[str, Any]) -> str:
    text = str(value) if isinstance(value, int | float) else _str(value)
    return _text.pad(text, a["length"], a["char"], a["side"], a["encoding"] if a["unit"] == "bytes" else None)


class WidthArgs(Args):
    to: Literal["half", "full"]
    only: list[Literal["alpha", "digit", "symbol", "space", "katakana"]] | None = None


def _width(value: Any, a: dict[str, Any]) -> str:
    classes = frozenset(a["only"]) if a["only"] else _text.WIDTH_CLASSES
    fn = _text.to_half_width if a["to"] == "half" else _text.to_full_width
    return fn(_str(value), classes)


class KanaArgs(Args):
    to: Literal["katakana", "hiragana"]


def _kana(value: Any, a: dict[str, Any]) -> str:
    return (_text.to_katakana if a["to"] == "katakana" else _text.to_hiragana)(_str(value))


class NameChoiceArgs(Args):
    prefer: Literal["kanji", "kana"] = "kanji"
    fallback: bool = True


def _name_choice(value: Any, a: dict[str, Any]) -> Any:
    if not isinstance(value, list) or len(value) != 2:
        raise MappingValueError("name_choice needs `from: [<kanji name path>, <kana name path>]`", value=value)
    kanji, kana = value
    first, second = (kanji, kana) if a["prefer"] == "kanji" else (kana, kanji)
    if not is_missing(first):
        return first
    return second if a["fallback"] else None


class JoinArgs(Args):
    sep: str = ""


def _join(value: Any, a: dict[str, Any]) -> str:
    items = value if isinstance(value, list) else [value]
    return a["sep"].join(str(v) for v in items if not is_missing(v))


class SplitArgs(Args):
    sep: str | None = None  # None: any run of whitespace, including the ideographic space
    index: int | None = None


def _split(value: Any, a: dict[str, Any]) -> Any:
    parts = _str(value).split(a["sep"])
    if a["index"] is None:
        return parts
    try:
        return parts[a["index"]]
    except IndexError:
        return None


class FormatArgs(Args):
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _positional_only(cls, v: str) -> str:
        for _, name, _, _ in string.Formatter().parse(v):
            if name not in (None, "") and not name.isdigit():
                raise ValueError("only {} and {0}-style placeholders are allowed")
        return v


def _format(value: Any, a: dict[str, Any]) -> str:
    values = value if isinstance(value, list) else [value]
    try:
        return a["pattern"].format(*values)
    except (IndexError, ValueError) as exc:
        raise MappingValueError(f"format {a['pattern']!r} failed: {exc}", value=value) from exc


class HashArgs(Args):
    length: int = 32


def _hash(value: Any, a: dict[str, Any]) -> str:
    # Deterministic ids (e.g. FHIR Resource.id) from source identifiers: re-conversion stays idempotent.
    parts = value if isinstance(value, list) else [value]
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()[: a["length"]]


def _first(value: Any, a: dict[str, Any]) -> Any:
    items = value if isinstance(value, list) else [value]
    return next((v for v in items if not is_missing(v)), None)


def _simple(fn: Callable[[str], str]) -> Callable[[Any, dict[str, Any]], str]:
    return lambda value, a: fn(_str(value))


for _conv in (
    Conversion("age_at", _age_at, AgeAtArgs, "at", frozenset({"at"})),
    Conversion("date_format", _date_format, DateFormatArgs, "to"),
    Conversion("unit", _unit, UnitArgs, None, frozenset({"from_", "to", "analyte"})),
    Conversion("number", lambda v, a: _num(v)),
    Conversion("integer", _integer),
    Conversion("round", _round, RoundArgs, "digits"),
    Conversion("string", _string, StringArgs),
    Conversion("code", _code, CodeArgs, "table"),
    Conversion("truncate", _truncate, TruncateArgs, "length"),
    Conversion("pad", _pad, PadArgs, "length"),
    Conversion("width", _width, WidthArgs, "to"),
    Conversion("kana", _kana, KanaArgs, "to"),
    Conversion("name_choice", _name_choice, NameChoiceArgs, "prefer", takes_lists=True),
    Conversion("upper", _simple(str.upper)),
    Conversion("lower", _simple(str.lower)),
    Conversion("strip", _simple(str.strip)),
    Conversion("join", _join, JoinArgs, "sep", takes_lists=True),
    Conversion("split", _split, SplitArgs, "sep"),
    Conversion("format", _format, FormatArgs, "pattern", takes_lists=True),
    Conversion("hash", _hash, HashArgs, "length", takes_lists=True),
    Conversion("first", _first, takes_lists=True),
):
    register(_conv)

"""The vital-sign text convention of the way back: 「BT 36.8 BP 120/80 P 72 SpO2 97」 → Observation records.

    readings = read_vital_text("BT 36.8 BP 120/80 P 72", patient_id="P1", measured_at=..., reporter="nurse.sato")
    is_vital_text("BT 36.8 …")   # does the post claim to be a vitals report at all?

A post is a vitals report when it starts with a label of the code table `sns_vital_text` (specs/codes)
followed by a number. Then every part of it must read as `LABEL value` pairs (separators: spaces, commas,
、, ・, a colon or = after the label), every value must be a plain decimal number inside the item's
plausible range, and no item may be given twice. Anything else refuses the whole post with a
VitalTextError saying which pair and why (never the value: the reason may reach logs), so the nurse is
told and nothing is guessed: no half-read report, no "36,8" read as 368, no unit conversions.

Labels and digits are NFKC-normalised first, so full-width 「ＢＴ　３６．８」 reads like "BT 36.8".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from renkei.errors import InputError
from renkei.mappings._library import library
from renkei.records import Coding, Observation

TABLE = "sns_vital_text"
REPORTED_BY = "reported-by:"  # Observation.source of a reported reading: who reported it (a staff id)
_SEPARATORS = re.compile(r"[\s,、，・;；]+")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class VitalTextError(InputError):
    """A post that claims to be a vitals report but cannot be read; the message says where, in ja / en."""


@dataclass(slots=True, frozen=True)
class _Part:
    code: str
    display: str
    unit: str
    ucum: str
    low: Decimal
    high: Decimal
    decimals: int


def _items() -> tuple[dict[str, str], dict[str, list[_Part]]]:
    """(normalised label -> item, item -> its parts) from the code table."""
    table = library().table(TABLE)
    labels: dict[str, str] = {}
    parts: dict[str, list[_Part]] = {}
    for item, entry in table.entries.items():
        for label in entry["labels"]:
            labels[_norm(str(label))] = item
        parts[item] = [
            _Part(str(p["code"]), str(p["display"]), str(p["unit"]), str(p["ucum"]), Decimal(str(p["low"])),
                  Decimal(str(p["high"])), int(p["decimals"]))
            for p in entry["parts"]
        ]  # fmt: skip
    return labels, parts


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).upper()


def _tokens(text: str, labels: dict[str, str]) -> list[str]:
    """Label and value tokens: 'BT36.8', 'BT:36.8' and 'BT 36.8' all give ['BT', '36.8'] (SpO2 stays one label)."""
    out: list[str] = []
    for chunk in _SEPARATORS.split(_norm(text).strip()):
        for piece in (p for p in re.split(r"[:=：]", chunk) if p):
            if piece in labels or piece[:1].isdigit():
                out.append(piece)
                continue
            glued = next(
                (lab for lab in sorted(labels, key=len, reverse=True)
                 if piece.startswith(lab) and piece[len(lab):][:1].isdigit()),
                None,
            )  # fmt: skip
            out += [glued, piece[len(glued) :]] if glued else [piece]
    return out


def is_vital_text(text: str) -> bool:
    labels, _ = _items()
    tokens = _tokens(text, labels)
    return len(tokens) >= 2 and tokens[0] in labels and tokens[1][:1].isdigit()


def read_vital_text(
    text: str, *, patient_id: str, measured_at: datetime, reporter: str, record_key: str
) -> list[Observation]:
    """Every reading of a vitals report, or VitalTextError for the first pair that cannot be read."""
    labels, parts_of = _items()
    tokens = _tokens(text, labels)
    if len(tokens) % 2:
        raise VitalTextError(
            f"バイタルの書式: 値のない項目があります (項目 {len(tokens) // 2 + 1}) / "
            f"vital signs: item {len(tokens) // 2 + 1} has no value"
        )
    seen: set[str] = set()
    out: list[Observation] = []
    for n, (label, value) in enumerate(zip(tokens[::2], tokens[1::2], strict=True), start=1):
        item = labels.get(label)
        if item is None:
            raise VitalTextError(
                f"バイタルの書式: {n} 番目の項目名が読めません / vital signs: label of item {n} is unknown"
            )
        if item in seen:
            raise VitalTextError(f"バイタルの書式: {label} が二度あります / vital signs: {label} is given twice")
        seen.add(item)
        parts = parts_of[item]
        values = value.split("/")
        if len(values) != len(parts):
            shape = "/".join(["数値"] * len(parts))
            raise VitalTextError(
                f"バイタルの書式: {label} は「{shape}」で書いてください / "
                f"vital signs: {label} needs {len(parts)} number(s)"
            )
        for part, raw in zip(parts, values, strict=True):
            number = _number(raw, label, part)
            out.append(
                Observation(
                    patient_id=patient_id,
                    record_key=f"{record_key}/{part.code}",
                    code=Coding(part.code, part.display, "MDC"),
                    value=str(number),
                    value_type="NM",
                    unit=part.unit,
                    normalized_value=float(number),
                    normalized_unit=part.ucum,
                    effective=measured_at,
                    result_status="F",
                    source=REPORTED_BY + reporter,
                )
            )
    if not out:
        raise VitalTextError("バイタルの書式: 項目がありません / vital signs: no item")
    return out


def _number(raw: str, label: str, part: _Part) -> Decimal:
    if not _NUMBER.fullmatch(raw):
        raise VitalTextError(f"バイタルの書式: {label} の値が数値ではありません / vital signs: {label} is not a number")
    try:
        number = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise VitalTextError(f"vital signs: {label} is not a number") from None
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > part.decimals:
        raise VitalTextError(
            f"バイタルの書式: {label} の小数は {part.decimals} 桁までです / "
            f"vital signs: {label} takes {part.decimals} decimal place(s) at most"
        )
    if not part.low <= number <= part.high:
        raise VitalTextError(
            f"バイタルの書式: {part.display} が測定範囲 {part.low}–{part.high} の外です / "
            f"vital signs: {part.display} is outside {part.low}–{part.high} {part.ucum}"
        )
    return number

"""Japanese text conversions: full-/half-width, hiragana/katakana, and length limits by byte count.

Width conversion works character by character on an explicit set of ranges, never NFKC over the
whole string: NFKC would also rewrite CJK compatibility ideographs (神 U+FA19 → 神 U+795E, common in
names), circled digits and ㈱, which a name or address must keep exactly.
"""

from __future__ import annotations

import unicodedata

from renkei.mappings.errors import MappingValueError

_FULL_ASCII_START, _FULL_ASCII_END = 0xFF01, 0xFF5E  # ！ … ～  ↔  ! … ~
_WIDTH_OFFSET = 0xFEE0
_IDEOGRAPHIC_SPACE = "\u3000"
_HALF_VOICED, _HALF_SEMI = "\uff9e", "\uff9f"  # ﾞ ﾟ
_COMBINING_VOICED, _COMBINING_SEMI = "\u3099", "\u309a"


def _build_kana_tables() -> tuple[dict[str, str], dict[str, str]]:
    """Full-width katakana → half-width (incl. ガ → ｶﾞ), from the Unicode half-width block itself."""
    to_half: dict[str, str] = {}
    for cp in range(0xFF61, 0xFFA0):
        half = chr(cp)
        full = unicodedata.normalize("NFKC", half)
        if len(full) == 1 and full not in to_half:
            to_half[full] = half
    voiced: dict[str, str] = {}
    for cp in range(0x30A1, 0x30FF):
        full = chr(cp)
        if full in to_half:
            continue
        decomposed = unicodedata.normalize("NFD", full)
        if len(decomposed) == 2 and decomposed[0] in to_half:
            mark = {_COMBINING_VOICED: _HALF_VOICED, _COMBINING_SEMI: _HALF_SEMI}.get(decomposed[1])
            if mark:
                voiced[full] = to_half[decomposed[0]] + mark
    to_half.update(voiced)
    # The stand-alone full-width voicing marks ゛゜ have half-width forms too.
    to_half["\u309b"], to_half["\u309c"] = _HALF_VOICED, _HALF_SEMI
    return to_half, {v: k for k, v in to_half.items() if len(v) == 1}


_KATA_TO_HALF, _HALF_TO_KATA = _build_kana_tables()
WIDTH_CLASSES = frozenset({"alpha", "digit", "symbol", "space", "katakana"})


def _ascii_class(ch: str) -> str:
    if ch.isdigit():
        return "digit"
    if ch.isalpha():
        return "alpha"
    return "symbol"


def to_half_width(text: str, classes: frozenset[str] = WIDTH_CLASSES) -> str:
    out: list[str] = []
    for ch in text:
        cp = ord(ch)
        if _FULL_ASCII_START <= cp <= _FULL_ASCII_END:
            half = chr(cp - _WIDTH_OFFSET)
            out.append(half if _ascii_class(half) in classes else ch)
        elif ch == _IDEOGRAPHIC_SPACE:
            out.append(" " if "space" in classes else ch)
        elif ch in _KATA_TO_HALF and "katakana" in classes:
            out.append(_KATA_TO_HALF[ch])
        else:
            out.append(ch)  # kanji, hiragana, ヰ/ヱ/ヵ (no half-width form) and everything else unchanged
    return "".join(out)


def to_full_width(text: str, classes: frozenset[str] = WIDTH_CLASSES) -> str:
    out: list[str] = []
    for ch in text:
        cp = ord(ch)
        if 0x21 <= cp <= 0x7E:
            out.append(chr(cp + _WIDTH_OFFSET) if _ascii_class(ch) in classes else ch)
        elif ch == " ":
            out.append(_IDEOGRAPHIC_SPACE if "space" in classes else ch)
        elif 0xFF61 <= cp <= 0xFF9F and "katakana" in classes:
            if ch in (_HALF_VOICED, _HALF_SEMI) and out and "\u30a0" <= out[-1] <= "\u30ff":
                # ｶﾞ → ガ: compose with the previous katakana where Unicode has the precomposed letter
                # (not with hiragana or kanji: a stray half-width mark there stays a mark).
                combined = unicodedata.normalize(
                    "NFC", out[-1] + (_COMBINING_VOICED if ch == _HALF_VOICED else _COMBINING_SEMI)
                )
                if len(combined) == 1:
                    out[-1] = combined
                    continue
            out.append(_HALF_TO_KATA.get(ch, unicodedata.normalize("NFKC", ch)))
        else:
            out.append(ch)
    return "".join(out)


_HIRA_START, _HIRA_END, _KANA_OFFSET = 0x3041, 0x3096, 0x60  # ぁ … ゖ  ↔  ァ … ヶ


def to_katakana(text: str) -> str:
    out = []
    for ch in text:
        cp = ord(ch)
        if _HIRA_START <= cp <= _HIRA_END or cp in (0x309D, 0x309E):  # ゝゞ → ヽヾ
            out.append(chr(cp + _KANA_OFFSET))
        else:
            out.append(ch)
    return "".join(out)


def to_hiragana(text: str) -> str:
    out = []
    for ch in text:
        cp = ord(ch)
        if _HIRA_START + _KANA_OFFSET <= cp <= _HIRA_END + _KANA_OFFSET or cp in (0x30FD, 0x30FE):
            out.append(chr(cp - _KANA_OFFSET))
        else:
            out.append(ch)  # ヷヸヹヺ have no single hiragana letter; half-width kana: widen first
    return "".join(out)


def _clusters(text: str) -> list[str]:
    """Split into units that must not be separated: a letter plus its voicing marks or combining
    characters (ｶﾞ, か+゙, an ideograph + variation selector)."""
    units: list[str] = []
    for ch in text:
        attach = ch in (_HALF_VOICED, _HALF_SEMI) or unicodedata.category(ch).startswith("M")
        if attach and units:
            units[-1] += ch
        else:
            units.append(ch)
    return units


def encoded_length(text: str, encoding: str | None) -> int:
    if encoding is None:
        return len(_clusters(text))
    try:
        return len(text.encode(encoding))
    except UnicodeEncodeError as exc:
        raise MappingValueError(
            f"character at position {exc.start} cannot be encoded in {encoding}", value=text
        ) from exc


def truncate(text: str, length: int, encoding: str | None = None) -> str:
    """Keep at most `length` characters (encoding None) or bytes in `encoding`, never cutting a
    character or separating a letter from its voicing mark."""
    kept: list[str] = []
    used = 0
    for unit in _clusters(text):
        size = encoded_length(unit, encoding) if encoding else 1
        if used + size > length:
            break
        kept.append(unit)
        used += size
    return "".join(kept)


def pad(text: str, length: int, fill: str, side: str, encoding: str | None = None) -> str:
    """Pad to exactly `length` characters or bytes; longer text is returned unchanged (truncate first)."""
    have = encoded_length(text, encoding)
    step = encoded_length(fill, encoding)
    if have >= length:
        return text
    count, rest = divmod(length - have, step)
    if rest:
        raise MappingValueError(
            f"cannot pad to exactly {length} {'bytes' if encoding else 'chars'} with a fill of {step}", value=text
        )
    return text + fill * count if side == "right" else fill * count + text

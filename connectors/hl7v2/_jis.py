"""Tolerant ISO-2022-JP decoding (SS-MIX2 files, MLLP messages whose MSH-18 names ISO IR87).

Python's `iso2022_jp` codec is strict: it refuses JIS X 0208 vendor rows (NEC special characters such as
①, ㈱), half-width katakana, JIS X 0212/0213 and user-defined characters (外字), all of which real EHR
exports contain. The order tried is: strict `iso2022_jp` (the common case, one C call), then the wider
ISO-2022-JP family codecs, then whole-file UTF-8 / Shift_JIS for exports that were never ISO-2022-JP,
then a byte-level decoder that maps each JIS pair through cp932 (which knows the NEC and IBM rows) and
reports the byte offset of anything it still cannot read. Only that last step can fail, with
`undecodable`; a stream that ends inside a two-byte character is `truncated`.
"""

from __future__ import annotations

from ._defect import Defect, MessageError

REPLACEMENT = "■"  # what Japanese hospitals write for characters they cannot represent

_FAMILY = ("iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_3", "iso2022_jp_2")

# escape sequence -> mode
_ESCAPES: dict[bytes, str] = {
    b"\x1b(B": "ascii",
    b"\x1b(J": "ascii",  # JIS X 0201 Roman: treat as ASCII (¥ and ‾ are never meant in HL7 text)
    b"\x1b(I": "kana",  # JIS X 0201 half-width katakana
    b"\x1b$@": "x0208",
    b"\x1b$B": "x0208",
    b"\x1b&@\x1b$B": "x0208",  # JIS X 0208-1990 announcer
    b"\x1b$(D": "x0212",
    b"\x1b$(O": "x0213",
    b"\x1b$(Q": "x0213",
    b"\x1b$(P": "x0213p2",
}
_MAX_ESC = max(len(k) for k in _ESCAPES)


def decode_iso2022jp(raw: bytes, file: str, *, replace: bool = False) -> tuple[str, list[Defect]]:
    """Text of an SS-MIX2 file (or message) and the decoding defects found (warnings).

    Raises MessageError `truncated` when the bytes end inside a two-byte character and `undecodable`
    (with the byte offset) when not even the byte-level fallback can read them, unless `replace` is set:
    then each undecodable byte becomes ■ and is reported as a `decode_fallback` warning.
    """
    try:
        text = raw.decode("iso2022_jp")
    except UnicodeDecodeError as exc:
        first = exc
    else:
        _check_run_ends(raw, file)
        return text, []
    if first.reason == "incomplete multibyte sequence" and first.end >= len(raw.rstrip(b"\r\n\x1c")):
        what = "a JIS escape sequence" if raw[first.start] == 0x1B else "a two-byte JIS character"
        raise MessageError(Defect("truncated", file, problem=f"file ends inside {what}", offset=first.start))
    _check_run_ends(raw, file)
    for codec in _FAMILY:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        return text, [
            Defect(
                "decode_fallback",
                file,
                problem=f"not strict ISO-2022-JP ({first.reason}); decoded as {codec}",
                offset=first.start,
            )
        ]
    if b"\x1b" not in raw:
        for codec, label in (("utf-8", "UTF-8"), ("cp932", "Shift_JIS (cp932)")):
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError:
                continue
            return text, [Defect("decode_fallback", file, problem=f"file is {label}, not ISO-2022-JP", offset=0)]
    return _bytewise(raw, file, replace)


def _check_run_ends(raw: bytes, file: str) -> None:
    """A JIS two-byte or kana run must return to ASCII (ESC ( B) or at least reach a segment end: bytes
    that stop inside such a run were cut (the encoder writes ESC ( B before any ASCII that follows)."""
    i = raw.rfind(b"\x1b")
    if i < 0 or raw[i : i + 3] in (b"\x1b(B", b"\x1b(J"):
        return
    tail = raw[i:]
    if b"\r" in tail or b"\n" in tail:
        return
    raise MessageError(
        Defect(
            "truncated", file,
            problem="file ends inside a two-byte JIS run (no ESC ( B and no segment end after it)", offset=i,
        )
    )  # fmt: skip


def _jis_to_sjis(j1: int, j2: int) -> bytes:
    s1 = ((j1 - 0x21) >> 1) + 0x81
    if s1 > 0x9F:
        s1 += 0x40
    s2 = j2 + (0x1F + (j2 >= 0x60) if j1 & 1 else 0x7E)
    return bytes((s1, s2))


def _bytewise(raw: bytes, file: str, replace: bool) -> tuple[str, list[Defect]]:
    out: list[str] = []
    defects: list[Defect] = []
    mode = "ascii"
    i, n = 0, len(raw)

    def bad(offset: int, length: int, what: str) -> None:
        shown = " ".join(f"0x{b:02x}" for b in raw[offset : offset + length])
        defect = Defect("undecodable", file, problem=f"undecodable ISO-2022-JP bytes {shown} ({what})", offset=offset)
        if not replace:
            raise MessageError(defect)
        out.append(REPLACEMENT)
        defects.append(Defect("decode_fallback", file, problem=f"{defect.problem}; replaced by ■", offset=offset))

    while i < n:
        b = raw[i]
        if b == 0x1B:
            for length in range(3, _MAX_ESC + 1):
                new = _ESCAPES.get(raw[i : i + length])
                if new:
                    mode = new
                    i += length
                    break
            else:
                bad(i, 3, "unknown escape sequence")
                i += 1
            continue
        if b in (0x0D, 0x0A):  # encoders that forget ESC ( B before a line end: segment ends reset to ASCII
            out.append(chr(b))
            mode = "ascii"
            i += 1
            continue
        if b == 0x0E:  # SO/SI half-width katakana (some vendors)
            mode = "kana"
            i += 1
            continue
        if b == 0x0F:
            mode = "ascii"
            i += 1
            continue
        if mode == "ascii":
            if b < 0x80:
                out.append(chr(b))
            else:
                bad(i, 1, "8-bit byte in a 7-bit stream")
            i += 1
            continue
        if mode == "kana":
            if 0x21 <= b <= 0x5F:
                out.append(chr(0xFF61 + b - 0x21))
            else:
                bad(i, 1, "not a half-width katakana byte")
            i += 1
            continue
        if i + 1 >= n:
            raise MessageError(Defect("truncated", file, problem="file ends inside a two-byte JIS character", offset=i))
        j1, j2 = b, raw[i + 1]
        if not (0x21 <= j1 <= 0x7E and 0x21 <= j2 <= 0x7E):
            bad(i, 2, "byte outside the JIS range 0x21-0x7e")
            i += 1
            continue
        if mode == "x0208":
            if j1 >= 0x75:  # rows 85-94: user-defined characters (外字), meaningless outside the hospital
                out.append(REPLACEMENT)
                defects.append(
                    Defect("decode_fallback", file, problem="user-defined JIS character (外字) replaced by ■", offset=i)
                )
                i += 2
                continue
            try:
                out.append(_jis_to_sjis(j1, j2).decode("cp932"))
            except UnicodeDecodeError:
                bad(i, 2, "no such JIS X 0208 character")
            i += 2
            continue
        prefix = {"x0212": b"\x1b$(D", "x0213": b"\x1b$(Q", "x0213p2": b"\x1b$(P"}[mode]
        codec = "iso2022_jp_2" if mode == "x0212" else "iso2022_jp_2004"
        try:
            out.append((prefix + bytes((j1, j2))).decode(codec))
        except UnicodeDecodeError:
            bad(i, 2, f"no such {mode.upper()} character")
        i += 2
    defects.insert(
        0,
        Defect("decode_fallback", file, problem="not ISO-2022-JP for Python's codecs; decoded byte by byte via cp932"),
    )
    return "".join(out), defects

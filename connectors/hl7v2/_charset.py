"""MSH-18 character sets (HL7 table 0211) to Python codecs, and decoding a whole message by them.

Japanese feeds send `UNICODE UTF-8`, or `~ISO IR87` / `ISO IR87` (JIS X 0208 in ISO-2022-JP, the
SS-MIX2 norm). ISO-2022-JP is decoded by the tolerant decoder of `_jis.py`, which knows the vendor
rows (NEC specials, 外字) that Python's strict codec refuses. An empty MSH-18 means the connector's
`encoding` setting. A value we do not know cannot be read at all: the listener rejects (AR) it.
"""

from __future__ import annotations

from ._hl7error import HL7Error
from ._jis import decode_iso2022jp

ISO2022JP = "iso2022_jp"

# Normalised (upper case, no spaces/underscores/hyphens) MSH-18 value -> codec.
_TABLE_0211: dict[str, str] = {
    "UNICODEUTF8": "utf-8",
    "UTF8": "utf-8",
    "UNICODE": "utf-8",  # "UNICODE" alone is ambiguous in 0211; UTF-8 is what senders mean on the wire
    "ASCII": "ascii",
    "ISOIR6": "ascii",
    "ISOIR87": ISO2022JP,
    "ISOIR159": ISO2022JP,
    "ISO20221994": ISO2022JP,
    "ISO2022JP": ISO2022JP,
    "JIS": ISO2022JP,
    "SHIFTJIS": "cp932",  # not in table 0211, but Japanese vendors send it
    "SJIS": "cp932",
    "CP932": "cp932",
    "8859/1": "latin-1",
    **{f"8859/{n}": f"iso8859_{n}" for n in range(2, 10)},
    "8859/15": "iso8859_15",
}


def _norm(value: str) -> str:
    return "".join(ch for ch in value.upper() if ch not in " _-")


def codec_for(msh18: str, default: str) -> str:
    """The codec for an MSH-18 value (its repetitions: `ISO IR6~ISO IR87` means JIS); `default` if empty."""
    reps = [r for r in (_norm(v) for v in msh18.split("~")) if r]
    if not reps:
        return ISO2022JP if _norm(default) in ("ISO2022JP", "ISOIR87", "JIS") else default
    codecs = []
    for r in reps:
        codec = _TABLE_0211.get(r)
        if codec is None:
            raise HL7Error(
                f"MSH-18 character set {msh18!r} is not supported", code="203", location="MSH^1^18", reject=True
            )
        codecs.append(codec)
    # ASCII plus an alternate set: the alternate decides (ISO IR6~ISO IR87 is ISO-2022-JP)
    return next((c for c in codecs if c != "ascii"), codecs[0])


def decode_text(raw: bytes, codec: str, key: str) -> tuple[str, list[str]]:
    """The message text and decoding warnings; an InputError (the message is kept and quarantined, ACK
    AE) names the byte offset of what cannot be read."""
    if codec == ISO2022JP:
        text, defects = decode_iso2022jp(raw, key)
        return text, [str(d) for d in defects]
    try:
        return raw.decode(codec), []
    except UnicodeDecodeError as exc:
        shown = " ".join(f"0x{b:02x}" for b in raw[exc.start : exc.start + 4])
        raise HL7Error(
            f"{key}: bytes {shown} at byte {exc.start} are not {codec} (MSH-18 or the connector default)",
            code="102",
            location="MSH^1^18",
        ) from None

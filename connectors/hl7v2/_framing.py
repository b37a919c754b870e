"""HL7 v2 framing by the standard and by practice: segment terminators and evidence of truncation.

HL7 v2 ends every segment with CR (0x0d). Real exports also use LF or CRLF, and often leave the last
segment without a terminator; both are complete messages. So:
  - CR, LF and CRLF all end a segment; anything but CR is reported once per message/file, naming the
    style found (`segment_terminator` warning);
  - the final terminator is optional;
  - a message is truncated only on evidence, never because of its last byte alone: an escape sequence
    left open in the last segment, a cut multi-byte JIS character or escape (`_jis.py`), a JIS run that
    never returns to ASCII, or a last segment (without terminator) missing a field the standard requires.
The same rules hold for SS-MIX2 files and MLLP payloads (docs/hl7v2.md).
"""

from __future__ import annotations

import re

from ._defect import Defect, MessageError
from ._er7 import Message, split

# Fields HL7 v2.5 marks required (R) per segment; a last segment cut before one of them is evidence of
# truncation. Only segments whose required fields real SS-MIX2/JAHIS exports do fill are listed.
REQUIRED: dict[str, tuple[int, ...]] = {
    "MSH": (9, 10, 11, 12),
    "EVN": (2,),
    "PID": (3, 5),
    "PV1": (2,),
    "ORC": (1,),
    "OBR": (4,),
    "OBX": (3, 11),
    "SPM": (4,),
    "AL1": (3,),
    "RXE": (2,),
    "RXA": (3, 5),
    "RXR": (1,),
}


def terminator_style(text: str) -> str:
    """ "CR" (the standard), "LF", "CRLF" or "mixed (…)" for the segment ends found in `text`."""
    if "\n" not in text:
        return "CR"
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    cr = text.count("\r") - crlf
    found = [name for name, n in (("CR", cr), ("LF", lf), ("CRLF", crlf)) if n]
    return found[0] if len(found) == 1 else f"mixed ({', '.join(found)})"


def is_terminated(text: str) -> bool:
    """Whether the last segment has a terminator (MLLP/file padding such as FS and NUL ignored)."""
    return text.rstrip("\x1c\x00 \t").endswith(("\r", "\n"))


def terminator_defect(style: str, key: str) -> Defect | None:
    if style == "CR":
        return None
    return Defect(
        "segment_terminator", key, problem=f"segments end with {style}, not CR (0x0d) as HL7 v2 requires; accepted"
    )


def truncation(msg: Message, terminated: bool, key: str) -> Defect | None:
    """The evidence that `msg` was cut short, or None. `terminated`: its last segment had a terminator."""
    if terminated:
        return None  # a cut exactly at a segment end leaves no evidence inside the message
    last = msg.segments[-1]
    name = last[0]
    label = f"{name}[{sum(1 for s in msg.segments if s[0] == name)}]" if name != "MSH" else "MSH"
    esc = msg.esc
    if esc:
        line = msg.fs.join(last[1:] if name != "MSH" else last[3:])  # MSH-2 holds the escape character
        if line.count(esc) % 2:
            at = line.rfind(esc)
            return Defect(
                "truncated",
                key,
                label,
                problem=f"truncated message: escape sequence opened at column {at} is never closed",
            )
    for i in REQUIRED.get(name, ()):
        if not (last[i] if i < len(last) else ""):
            return Defect(
                "truncated", key, label, f"{name}-{i}",
                f"truncated message: the last segment has no terminator and ends before required {name}-{i}",
            )  # fmt: skip
    return None


def split_framed(text: str, key: str) -> tuple[Message, list[Defect]]:
    """Split a decoded message by the rules above: (message, warnings); MessageError `truncated` (with
    the evidence) or `not_hl7`. Padding (VT, FS, NUL) and blank lines around the message are ignored."""
    terminated = is_terminated(text)
    msg = split(text.strip("\x0b\x1c\x00\r\n"), key)
    warnings: list[Defect] = []
    if "\n" in text:
        found = terminator_defect(terminator_style(text.strip("\x0b\x1c\x00\r\n")), key)
        if found is not None:
            warnings.append(found)
    cut = truncation(msg, terminated, key)
    if cut is not None:
        raise MessageError(cut, warnings)
    if "\rMSH" in text or "\nMSH" in text:  # rare: only then look for a second header segment
        for n, seg in enumerate(msg.segments[1:], start=2):
            if seg[0] == "MSH" and any(seg[1:]):  # a bare "MSH" line is junk (checks); a header is a message
                raise MessageError(multiple_messages(key, f"segment {n}"), warnings)
    return msg, warnings


ONE_MESSAGE_RULE = "one message per SS-MIX2 file or MLLP frame (docs/hl7v2.md); nothing of it is read"


def multiple_messages(key: str, where: str) -> Defect:
    return Defect(
        "multiple_messages", key, "MSH", problem=f"a second MSH (message header) at {where}: {ONE_MESSAGE_RULE}"
    )


_SECOND_MSH = re.compile(rb"[\r\n]MSH")


def second_header_offset(raw: bytes) -> int:
    """Byte offset of a second message header (an MSH segment with fields) in raw bytes, or -1.

    Works on undecoded bytes (CR and LF never occur inside an ISO-2022-JP or UTF-8 character), so a
    listener can apply the one-message rule before it decodes anything."""
    body = raw.lstrip(b"\x0b\r\n\t ")
    if len(body) < 4 or not body.startswith(b"MSH"):
        return -1
    fs = body[3]
    skipped = len(raw) - len(body)
    for m in _SECOND_MSH.finditer(body):
        after = m.end()
        if after < len(body) and body[after] == fs:
            end = len(body)
            for sep in (b"\r", b"\n"):
                i = body.find(sep, after)
                if 0 <= i < end:
                    end = i
            if body[after:end].strip(bytes([fs]) + b" \t"):
                return skipped + m.start() + 1
    return -1

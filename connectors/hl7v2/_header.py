"""The MSH of a raw HL7 v2 message: what the listener needs to store, de-duplicate and acknowledge it.

Only the MSH line is decoded here (ISO-2022-JP if it holds an escape, else UTF-8, else Latin-1 so that
any byte reads), so the header costs a few microseconds whatever the body holds. JIS two-byte
characters may contain `|` or `^` bytes, which is why the line is decoded before it is split.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._hl7error import HL7Error


@dataclass(slots=True, frozen=True)
class Header:
    fs: str
    enc: str  # MSH-2, e.g. ^~\&
    fields: list[str]  # fields[i] is MSH-i (fields[0] = "MSH", fields[1] = MSH-1)

    def get(self, i: int) -> str:
        return self.fields[i] if i < len(self.fields) else ""

    def comp(self, i: int, j: int = 1) -> str:
        parts = self.get(i).split(self.enc[0])
        return parts[j - 1] if j <= len(parts) else ""

    @property
    def control_id(self) -> str:
        return self.get(10)

    @property
    def sender(self) -> str:
        """`sending application^sending facility` (first components of MSH-3 and MSH-4)."""
        return f"{self.comp(3)}^{self.comp(4)}"

    @property
    def message_type(self) -> str:
        return f"{self.comp(9, 1)}^{self.comp(9, 2)}"

    @property
    def key(self) -> str:
        """The source key: one message per sender and control id (MSH-10)."""
        return f"{self.sender}|{self.control_id}"


EMPTY = Header("|", "^~\\&", ["MSH", "|", "^~\\&"])


def _msh_line(raw: bytes) -> bytes:
    cut = len(raw)
    for sep in (b"\r", b"\n"):
        i = raw.find(sep)
        if 0 <= i < cut:
            cut = i
    return raw[:cut]


def _decode_line(line: bytes) -> str:
    if b"\x1b" in line:
        try:
            return line.decode("iso2022_jp_2004")
        except UnicodeDecodeError:
            pass
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def read_header(raw: bytes) -> Header:
    """The MSH; HL7Error with reject=True (ACK AR) when the message cannot be taken at all.

    Rejected: no MSH at the start, invalid MSH-1/MSH-2 encoding characters, empty MSH-9 or MSH-10.
    """
    body = raw.lstrip(b"\r\n\t ")
    if not body.startswith(b"MSH"):
        shown = " ".join(f"0x{b:02x}" for b in body[:4]) or "nothing"
        raise HL7Error(f"not an HL7 v2 message: starts with {shown}, not MSH", code="100", location="MSH", reject=True)
    line = _decode_line(_msh_line(body))
    if len(line) < 8:
        raise HL7Error("MSH segment too short", code="101", location="MSH^1^2", reject=True)
    fs = line[3]
    end = line.find(fs, 4)
    enc = line[4:end] if end > 0 else ""
    if not _valid_encoding(fs, enc):
        raise HL7Error(
            "MSH-1/MSH-2 do not hold valid encoding characters (e.g. |^~\\&)",
            code="102",
            location="MSH^1^2",
            reject=True,
        )
    fields = line.split(fs)
    fields.insert(1, fs)
    h = Header(fs, enc, fields)
    if not h.comp(9, 1):
        raise HL7Error("MSH-9 (message type) is empty", code="101", location="MSH^1^9", reject=True)
    if not h.control_id:
        raise HL7Error("MSH-10 (message control id) is empty", code="101", location="MSH^1^10", reject=True)
    return h


def _valid_encoding(fs: str, enc: str) -> bool:
    """MSH-1 and MSH-2 hold usable, distinct separators (not letters, digits or white space)."""
    return not (
        fs.isalnum()
        or fs.isspace()
        or not 2 <= len(enc) <= 5
        or any(ch.isalnum() or ch.isspace() or ch == fs for ch in enc)
        or len(set(enc)) != len(enc)
    )


def header_or_empty(raw: bytes) -> Header:
    """As much of the MSH as can be read, for addressing a rejecting ACK (never raises).

    When MSH-1/MSH-2 themselves are corrupted, the ACK cannot be written in them (the sender could not
    parse it): it gets the default separators `|^~\\&`, and only the sender's fields that are safe under
    those (no `|`, `\\`, CR or LF) are echoed."""
    try:
        return read_header(raw)
    except HL7Error:
        pass
    body = raw.lstrip(b"\r\n\t ")
    if not body.startswith(b"MSH") or len(body) <= 8:
        return EMPTY
    line = _decode_line(_msh_line(body))
    fs = line[3]
    end = line.find(fs, 4)
    enc = line[4:end] if end > 0 else ""
    if _valid_encoding(fs, enc):
        fields = line.split(fs)
        fields.insert(1, fs)
        return Header(fs, enc, fields)
    if fs.isalnum() or fs.isspace():
        return EMPTY
    fields = line.split(fs)
    safe = [f if not any(ch in f for ch in "|\\\r\n") else "" for f in fields[2:]]
    return Header(EMPTY.fs, EMPTY.enc, ["MSH", EMPTY.fs, EMPTY.enc, *safe])

"""A lean HL7 v2 ER7 splitter: segments as lists of raw field strings, unescaped only when read.

python-hl7 builds a tree of Field/Repetition/Component objects for every field of every segment;
a connector that reads a dozen fields per segment pays for hundreds it never looks at. Here a segment
is `line.split(field_separator)` (MSH shifted so that index n is MSH-n, as for every other segment)
and the accessors split components and undo escape sequences (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\Xhh\\
\\.br\\) only for the fields a record needs. Separators come from MSH-1/MSH-2 of each message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ._defect import Defect, MessageError

Segment = list[str]


class Message:
    __slots__ = ("_esc_re", "cs", "esc", "file", "fs", "rs", "segments", "ss")

    def __init__(self, segments: list[Segment], fs: str, cs: str, rs: str, esc: str, ss: str, file: str) -> None:
        self.segments = segments
        self.fs, self.cs, self.rs, self.esc, self.ss = fs, cs, rs, esc, ss
        self.file = file
        self._esc_re: re.Pattern[str] | None = None

    # ---- segments
    def first(self, name: str) -> Segment | None:
        for seg in self.segments:
            if seg[0] == name:
                return seg
        return None

    def all(self, name: str) -> Iterator[Segment]:
        return (seg for seg in self.segments if seg[0] == name)

    # ---- fields (1-based like the standard; missing trailing fields read as "")
    @staticmethod
    def raw(seg: Segment, i: int) -> str:
        return seg[i] if i < len(seg) else ""

    def f(self, seg: Segment, i: int) -> str:
        """Field i, first repetition, whole (components still joined), unescaped."""
        v = seg[i] if i < len(seg) else ""
        if not v:
            return v
        if self.rs in v:
            v = v.split(self.rs, 1)[0]
        return self.unescape(v) if self.esc and self.esc in v else v

    def c(self, seg: Segment, i: int, j: int = 1) -> str:
        """Component j of field i (first repetition), unescaped; subcomponents still joined."""
        v = seg[i] if i < len(seg) else ""
        if not v:
            return v
        if self.rs in v:
            v = v.split(self.rs, 1)[0]
        if self.cs in v:
            parts = v.split(self.cs)
            v = parts[j - 1] if j <= len(parts) else ""
        elif j != 1:
            return ""
        return self.unescape(v) if self.esc and self.esc in v else v

    def comps(self, value: str) -> list[str]:
        """Components of one (raw) repetition, unescaped."""
        parts = value.split(self.cs)
        if self.esc and self.esc in value:
            return [self.unescape(p) for p in parts]
        return parts

    def reps(self, seg: Segment, i: int) -> list[str]:
        """Raw repetitions of field i (empty list when the field is empty)."""
        v = seg[i] if i < len(seg) else ""
        return v.split(self.rs) if v else []

    def subs(self, value: str) -> list[str]:
        """Subcomponents of one raw component, unescaped."""
        parts = value.split(self.ss) if self.ss else [value]
        return [self.unescape(p) for p in parts] if self.esc and self.esc in value else parts

    def unescape(self, v: str) -> str:
        if self._esc_re is None:
            e = re.escape(self.esc)
            self._esc_re = re.compile(f"{e}([^{e}]*){e}")
        return self._esc_re.sub(self._replace, v)

    def _replace(self, m: re.Match[str]) -> str:
        code = m.group(1)
        simple = {"F": self.fs, "S": self.cs, "T": self.ss, "R": self.rs, "E": self.esc, ".br": "\n"}
        if code in simple:
            return simple[code]
        if code[:1] == "X" and len(code) > 1:
            try:
                return bytes.fromhex(code[1:]).decode("latin-1")
            except ValueError:
                return m.group(0)
        if code in ("H", "N") or code[:1] in ("C", "M", "Z"):
            return ""  # highlighting, character-set and local escapes carry no text
        return m.group(0)


def split(text: str, file: str) -> Message:
    """Split one ER7 message. Raises MessageError `not_hl7` when it does not start with a valid MSH."""
    if not text.startswith("MSH") or len(text) < 8:
        shown = text[:3].encode("ascii", "backslashreplace").decode()
        raise MessageError(
            Defect("not_hl7", file, "MSH", problem=f"does not start with an MSH segment (starts {shown!r})")
        )
    fs = text[3]
    end = text.find(fs, 4)
    enc = text[4:end] if end > 0 else ""
    if (
        fs.isalnum()
        or fs in "\r\n"
        or not 2 <= len(enc) <= 5
        or any(ch.isalnum() or ch in "\r\n" or ch == fs for ch in enc)
        or len(set(enc)) != len(enc)
    ):
        raise MessageError(
            Defect("not_hl7", file, "MSH", "MSH-2", problem="MSH-1/MSH-2 do not hold valid encoding characters")
        )
    cs, rs = enc[0], enc[1]
    esc = enc[2] if len(enc) > 2 else ""
    ss = enc[3] if len(enc) > 3 else ""
    if "\n" in text:
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    segments: list[Segment] = []
    for line in text.split("\r"):
        if line:
            segments.append(line.split(fs))
    msh = segments[0]
    msh.insert(1, fs)
    return Message(segments, fs, cs, rs, esc, ss, file)

"""HL7 v2 original-mode acknowledgements: build them (listener) and read them (sender).

    ack = build_ack(header, "AA")                                # stored
    ack = build_ack(header, "AE", error)                         # stored, but the engine will quarantine it
    ack = build_ack(header, "AR", error)                         # not accepted; reason in MSA-3 and ERR
    parsed = read_ack(frame_bytes)                               # Ack(code, control_id, text, …)

The ACK's MSH swaps sender and receiver (MSH-3/4 <-> MSH-5/6), carries `ACK^<trigger>^ACK` in MSH-9, a
new control id in MSH-10, and echoes MSH-11 (processing id), MSH-12 (version) and MSH-18 (character
set, so the ACK is encoded like the message). MSA-1 is the code, MSA-2 the message's MSH-10, MSA-3 a
short text. AE and AR add ERR: ERR-2 location, ERR-3 HL7 table 0357 code, ERR-4 severity E, ERR-8 the
reason. Texts name ids, segments and fields only, never patient data.

Why by hand and not with hl7apy: measured in this repository (2-core machine), building one ACK with
hl7apy's `Message("ACK")` and `to_er7()` takes 2.8 ms at p50 and 7.4 ms at p99, i.e. ~3 CPU-seconds
per second at 1,000 msg/s; the target of 2,000 msg/s with ACK p99 <= 20 ms cannot be met that way. The
string template below costs a few microseconds. hl7apy stays where it is the better tool:
`strict_validation: true` on the listener validates each message against the HL7 v2.5 structures
(see `validate_strict`), and `bench/bench_mllp.py` prints hl7apy's ACK cost beside ours in every run.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from dataclasses import dataclass

from ._header import Header
from ._hl7error import HL7Error

_SEQ = itertools.count(1)
_PREFIX = f"{int(time.time() * 1000) % 36**8:08x}"[-8:] + f"{os.getpid() % 1296:03x}"[-3:]  # unique per start

ACK_CODES = ("AA", "AE", "AR")


def new_control_id() -> str:
    """A fresh MSH-10 for an ACK (<= 20 characters, the v2.5 limit): start stamp + pid + counter."""
    n = next(_SEQ)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return f"RK{_PREFIX}{out:0>7}"


def _escape(value: str, h: Header) -> str:
    """Escape a text for a field (separators in a reason must not break the ACK)."""
    esc = h.enc[2] if len(h.enc) > 2 else "\\"
    out = value.replace(esc, f"{esc}E{esc}").replace(h.fs, f"{esc}F{esc}").replace(h.enc[0], f"{esc}S{esc}")
    out = out.replace(h.enc[1], f"{esc}R{esc}")
    if len(h.enc) > 3:
        out = out.replace(h.enc[3], f"{esc}T{esc}")
    return out.replace("\r", " ").replace("\n", " ")


def build_ack(h: Header, code: str, error: HL7Error | None = None, text: str = "", *, now: float | None = None) -> str:
    """The ACK text (segments ended by CR), not yet framed or encoded."""
    if code not in ACK_CODES:
        raise ValueError(f"ACK code must be one of {ACK_CODES}, not {code!r}")
    fs = h.fs
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(now)) + time.strftime("%z", time.localtime(now))
    trigger = h.comp(9, 2)
    msh = [
        "MSH",
        h.enc,
        h.get(5),
        h.get(6),
        h.get(3),
        h.get(4),
        stamp,
        "",
        f"ACK{h.enc[0]}{trigger}{h.enc[0]}ACK" if trigger else "ACK",
        new_control_id(),
        h.get(11) or "P",
        h.get(12) or "2.5",
    ]
    if h.get(18):
        msh += ["", "", "", "", "", h.get(18)]
    reason = str(error) if error is not None else text
    lines = [fs.join(msh), fs.join(("MSA", code, h.control_id, _escape(reason[:200], h)))]
    if error is not None and code != "AA":
        location = error.location.replace("^", h.enc[0])
        err_code = f"{error.code}{h.enc[0]}{_TABLE_0357.get(error.code, 'Application error')}{h.enc[0]}HL70357"
        lines.append(fs.join(("ERR", "", location, err_code, "E", "", "", "", _escape(str(error), h))))
    return "\r".join(lines) + "\r"


_TABLE_0357 = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}


@dataclass(slots=True, frozen=True)
class Ack:
    code: str  # MSA-1: AA, AE, AR (or CA/CE/CR in enhanced mode)
    control_id: str  # MSA-2: the acknowledged message's MSH-10
    text: str  # MSA-3
    error_code: str = ""  # ERR-3.1
    error_text: str = ""  # ERR-8, else ERR-3.2
    ack_id: str = ""  # the ACK's own MSH-10

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")

    @property
    def reason(self) -> str:
        return self.text or self.error_text or (f"HL7 error {self.error_code}" if self.error_code else "")


def read_ack(text: str) -> Ack:
    """MSA (and ERR) of an ACK; HL7Error if it is not an acknowledgement."""
    segments = [s for s in text.replace("\n", "\r").split("\r") if s]
    if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 8:
        raise HL7Error("reply is not an HL7 message (no MSH)")
    fs, cs = segments[0][3], segments[0][4]
    msh = segments[0].split(fs)
    msa = next((s.split(fs) for s in segments if s.startswith("MSA" + fs)), None)
    if msa is None:
        raise HL7Error("reply has no MSA segment: not an acknowledgement", location="MSA")
    err = next((s.split(fs) for s in segments if s.startswith("ERR" + fs)), None)

    def f(seg: list[str] | None, i: int) -> str:
        return seg[i] if seg is not None and i < len(seg) else ""

    enc = msh[1] if len(msh) > 1 else "^~\\&"
    err3 = f(err, 3).split(cs)
    return Ack(
        code=f(msa, 1),
        control_id=f(msa, 2),
        text=_unescape(f(msa, 3), fs, enc),
        error_code=err3[0],
        error_text=_unescape(f(err, 8) or (err3[1] if len(err3) > 1 else ""), fs, enc),
        ack_id=f(msh, 9),  # msh[9] is MSH-10: split() does not count MSH-1
    )


def _unescape(value: str, fs: str, enc: str) -> str:
    esc = enc[2] if len(enc) > 2 else ""
    if not esc or esc not in value:
        return value
    codes = {"F": fs, "S": enc[0], "R": enc[1], "E": esc, "T": enc[3] if len(enc) > 3 else ""}
    out, parts = [], value.split(esc)
    for i, part in enumerate(parts):  # odd parts sit between two escape characters
        out.append(codes.get(part, f"{esc}{part}{esc}") if i % 2 else part)
    return "".join(out)


def validate_strict(text: str) -> None:
    """hl7apy strict validation against the message's HL7 version; HL7Error (code 207) naming the problem.

    Costs milliseconds per message (hl7apy builds and checks a full tree): for `strict_validation: true`.
    """
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.exceptions import HL7apyException
    from hl7apy.parser import parse_message

    try:
        msg = parse_message(text.replace("\n", "\r").strip("\r"), validation_level=VALIDATION_LEVEL.STRICT)
        msg.validate()
    except HL7apyException as exc:
        raise HL7Error(f"strict validation failed: {type(exc).__name__}: {_first_line(exc)}", code="207") from exc


def _first_line(exc: Exception) -> str:
    # hl7apy names elements and positions, but some of its messages quote the offending value: blank
    # anything quoted, so no patient data reaches an ACK or a log
    text = str(exc).splitlines()[0][:160] if str(exc) else "invalid"
    return re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)

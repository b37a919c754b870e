"""Framed binary serial protocol in the Philips IntelliVue MIB/RS232 style.

Frame on the wire:  C0 | hdr | payload | FCS | C1
- hdr: protocol id (1 byte, 0x11 data export), message type (1 byte, 0x01), payload length (u16 BE);
- FCS: PPP FCS-16 (RFC 1662, CRC-CCITT reflected, init 0xFFFF, complemented) over hdr+payload, sent
  least significant byte first;
- transparency: inside the frame C0, C1 and 7D are sent as 7D followed by the byte XOR 0x20.

Payload (judgement: renkei's simplified numeric export; the real Data Export protocol carries
ROSE/CMIP poll results, which is out of scope): AbsoluteTime (8 BCD bytes) + count u16 + length u16 +
NuObsValue entries (metric id u16, measurement state u16, unit code u16, FLOAT), the same NuObsValue
layout IntelliVue and IEEE 11073-20601 share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from renkei.devices import nomenclature as mdc
from renkei.devices.errors import DecoderFault, DeviceCodecError
from renkei.devices.mder import MderNumber, Reader, Writer
from renkei.devices.readings import make_observation
from renkei.devices.serial_protocols import Reading

BOF, EOF, ESC = 0xC0, 0xC1, 0x7D
PROTOCOL_DATA_EXPORT = 0x11
MSG_TYPE_DATA = 0x01
MAX_FRAME = 8192
FCS_GOOD = 0xF0B8


def _fcs_table() -> list[int]:
    table = []
    for b in range(256):
        v = b
        for _ in range(8):
            v = (v >> 1) ^ 0x8408 if v & 1 else v >> 1
        table.append(v)
    return table


_FCS_TABLE = _fcs_table()


def fcs16(data: bytes, fcs: int = 0xFFFF) -> int:
    """Running PPP FCS-16 (before the final complement); over data+FCS it yields FCS_GOOD."""
    for b in data:
        fcs = (fcs >> 8) ^ _FCS_TABLE[(fcs ^ b) & 0xFF]
    return fcs


def _escape(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in (BOF, EOF, ESC):
            out += bytes((ESC, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def encode_frame(payload: bytes, protocol_id: int = PROTOCOL_DATA_EXPORT, msg_type: int = MSG_TYPE_DATA) -> bytes:
    body = bytes((protocol_id, msg_type)) + len(payload).to_bytes(2, "big") + payload
    fcs = fcs16(body) ^ 0xFFFF
    return bytes((BOF,)) + _escape(body + fcs.to_bytes(2, "little")) + bytes((EOF,))


@dataclass(slots=True, frozen=True)
class Numeric:
    metric_id: int
    value: MderNumber | str | float | int
    unit_code: int
    state: int = 0


def encode_numerics(when: datetime | None, numerics: list[Numeric]) -> bytes:
    """Payload of one numeric export: time stamp + NuObsValue list."""
    w = Writer().abs_time(when).u16(len(numerics)).u16(10 * len(numerics))
    for n in numerics:
        w.u16(n.metric_id).u16(n.state).u16(n.unit_code).float32(n.value)
    return w.bytes()


class IntelliVueDecoder:
    """Incremental C0…C1 frame decoder with escaping and FCS check -> Readings with Observations."""

    name = "intellivue"

    def __init__(self, device_id: str = "") -> None:
        self.device_id = device_id
        self._pos = 0  # stream offset of the next byte fed
        self._in_frame = False
        self._escape = False
        self._frame = bytearray()
        self._raw = bytearray()
        self._frame_start = 0

    def feed(self, data: bytes) -> list[Reading]:
        out: list[Reading] = []
        for i, b in enumerate(data):
            at = self._pos + i
            if not self._in_frame:
                if b == BOF:
                    self._begin(at)
                continue  # bytes between frames are line noise: skipped
            self._raw.append(b)
            if b == BOF:  # a new frame starts before the old one ended
                err = DeviceCodecError("intellivue: frame not terminated by C1 before the next C0", at)
                out.append(Reading(self._frame_start, bytes(self._raw[:-1]), error=err))
                self._begin(at)
            elif b == EOF:
                out.append(self._finish(at))
                self._in_frame = False
            elif self._escape:
                self._frame.append(b ^ 0x20)
                self._escape = False
            elif b == ESC:
                self._escape = True
            else:
                self._frame.append(b)
            if self._in_frame and len(self._frame) > MAX_FRAME:
                err = DeviceCodecError(f"intellivue: frame longer than {MAX_FRAME} bytes", self._frame_start)
                out.append(Reading(self._frame_start, bytes(self._raw[:64]), error=err))
                self._in_frame = False
        self._pos += len(data)
        return out

    def flush(self) -> list[Reading]:
        if not self._in_frame:
            return []
        self._in_frame = False
        err = DeviceCodecError("intellivue: stream ended inside a frame (no C1)", self._frame_start)
        return [Reading(self._frame_start, bytes(self._raw), error=err)]

    def _begin(self, at: int) -> None:
        self._in_frame = True
        self._escape = False
        self._frame.clear()
        self._raw = bytearray((BOF,))
        self._frame_start = at

    def _finish(self, at: int) -> Reading:
        raw, frame, start = bytes(self._raw), bytes(self._frame), self._frame_start
        try:
            if self._escape:
                raise DeviceCodecError("intellivue: escape byte 7D right before C1", at - 1)
            if len(frame) < 6:
                raise DeviceCodecError(f"intellivue: frame of {len(frame)} bytes is shorter than header + FCS", start)
            if fcs16(frame) != FCS_GOOD:
                got = int.from_bytes(frame[-2:], "little")
                want = fcs16(frame[:-2]) ^ 0xFFFF
                raise DeviceCodecError(f"intellivue: bad FCS 0x{got:04X}, computed 0x{want:04X}", at - 2)
            body = frame[:-2]
            proto, msg_type, length = body[0], body[1], int.from_bytes(body[2:4], "big")
            if length != len(body) - 4:
                raise DeviceCodecError(
                    f"intellivue: header length {length} but the frame holds {len(body) - 4} payload bytes", start + 3
                )
            fields: dict[str, object] = {"protocol_id": proto, "msg_type": msg_type}
            observations = []
            if proto == PROTOCOL_DATA_EXPORT and msg_type == MSG_TYPE_DATA:
                # payload offsets are counted in the unescaped frame: exact while no byte needed escaping
                r = Reader(body, start + 1, 4)
                when = r.abs_time("time stamp")
                count = r.u16("numeric count")
                size = r.u16("numeric list length")
                sub = r.sub(size, "numeric list")
                for _ in range(count):
                    metric, state, unit = sub.u16("metric-id"), sub.u16("state"), sub.u16("unit-code")
                    value = sub.float32("value")
                    observations.append(
                        make_observation(
                            metric,
                            value,
                            unit,
                            effective=when,
                            device_id=self.device_id,
                            flags=mdc.status_flags(state),
                            source="intellivue",
                        )
                    )
                sub.expect_end("numeric list")
                r.expect_end("numeric export payload")
                fields["time"] = when.isoformat() if when else None
                fields["numerics"] = count
            else:
                fields["payload"] = body[4:].hex().upper()
            return Reading(start, raw, fields, observations)
        except DeviceCodecError as exc:
            return Reading(start, raw, error=exc)
        except Exception as exc:  # a decoder bug: this frame is skipped with its cause, the stream goes on
            fault = DecoderFault(f"intellivue: decoder fault on this frame ({type(exc).__name__})", start)
            fault.__cause__ = exc
            return Reading(start, raw, error=fault)

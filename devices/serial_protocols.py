"""Serial device protocols behind one small incremental interface (style.md §8).

    decoder = MasimoDecoder()            # or AndWeightDecoder(), IntelliVueDecoder()
    for chunk in chunks:
        for reading in decoder.feed(chunk):
            ...                          # reading.observations, reading.fields, reading.error
    decoder.flush()                      # end of stream: the last unterminated line/frame

Every decoder takes bytes in arbitrary chunks (a frame may be split anywhere) and returns `Reading`s.
A malformed line or frame does not stop the stream: it comes back as a Reading whose `error` is a
DeviceCodecError naming the stream byte offset, and decoding resumes at the next line or frame.
`decode_stream(decoder, data)` decodes a whole buffer and raises the first error (for the CLI).

Line formats:
- Masimo ASCII-1 (Radical/Rad-8): `MM/DD/YY HH:MM:SS SN=… SPO2=097% BPM=072 PI=03.60% … ALARM=0000
  EXC=000800`; `---`/`--.-` means no value; EXC holds exception bits (below).
- A&D balance/scale: `ST,+00012.345  g` (ST stable, US unstable, OL overload, QT count), units g/kg/lb.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Protocol

from renkei.devices import nomenclature as mdc
from renkei.devices.errors import DecoderFault, DeviceCodecError
from renkei.devices.readings import make_observation
from renkei.records import Observation

MAX_LINE = 1024
MDC_PULS_OXIM_PERF_REL = 19376  # perfusion index

# Masimo ASCII-1 EXC field (6 hex digits). 0x000800 is set in normal operation on Rad-8 output.
MASIMO_EXCEPTIONS = {
    0x000001: "no-sensor",
    0x000002: "defective-sensor",
    0x000004: "low-perfusion",
    0x000008: "pulse-search",
    0x000010: "interference",
    0x000020: "sensor-off",
    0x000040: "ambient-light",
    0x000080: "unrecognized-sensor",
    0x000400: "low-signal-iq",
}


@dataclass(slots=True)
class Reading:
    """One decoded line or frame: where it started in the stream, its bytes, fields and observations."""

    offset: int
    raw: bytes
    fields: dict[str, object] = field(default_factory=dict)
    observations: list[Observation] = field(default_factory=list)
    error: DeviceCodecError | None = None


class StreamDecoder(Protocol):
    """The one serial decoder contract: incremental `feed` plus `flush` at end of stream."""

    name: str

    def feed(self, data: bytes) -> list[Reading]: ...

    def flush(self) -> list[Reading]: ...


def decode_stream(decoder: StreamDecoder, data: bytes) -> list[Reading]:
    """Feed a whole buffer, flush, and raise the first reading's error if any."""
    readings = decoder.feed(data) + decoder.flush()
    for r in readings:
        if r.error is not None:
            raise r.error
    return readings


class LineDecoder:
    """Base for line protocols: splits on LF (CR stripped), guards the line length, calls `parse_line`."""

    name = "line"

    def __init__(self, device_id: str = "") -> None:
        self.device_id = device_id
        self._buf = bytearray()
        self._start = 0  # stream offset of _buf[0]
        self._discarding = False  # inside an over-long line: drop until the next LF

    def feed(self, data: bytes) -> list[Reading]:
        out: list[Reading] = []
        self._buf += data
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > MAX_LINE and not self._discarding:
                    err = DeviceCodecError(f"{self.name}: line longer than {MAX_LINE} bytes without LF", self._start)
                    out.append(Reading(self._start, bytes(self._buf[:64]), error=err))
                    self._discarding = True
                if self._discarding:
                    self._start += len(self._buf)
                    self._buf.clear()
                return out
            line = bytes(self._buf[:nl])
            offset = self._start
            del self._buf[: nl + 1]
            self._start += nl + 1
            if self._discarding:
                self._discarding = False
                continue
            reading = self._parse(line, offset)
            if reading is not None:
                out.append(reading)

    def flush(self) -> list[Reading]:
        if not self._buf or self._discarding:
            self._buf.clear()
            self._discarding = False
            return []
        line, offset = bytes(self._buf), self._start
        self._start += len(self._buf)
        self._buf.clear()
        reading = self._parse(line, offset)
        return [reading] if reading is not None else []

    def _parse(self, line: bytes, offset: int) -> Reading | None:
        text_bytes = line.rstrip(b"\r")
        if not text_bytes.strip():
            return None
        try:
            text = text_bytes.decode("ascii")
        except UnicodeDecodeError as exc:
            err = DeviceCodecError(f"{self.name}: non-ASCII byte 0x{line[exc.start]:02X}", offset + exc.start)
            return Reading(offset, line, error=err)
        try:
            return self.parse_line(text, offset, line)
        except DeviceCodecError as exc:
            return Reading(offset, line, error=exc)
        except Exception as exc:  # a decoder bug: this line is skipped with its cause, the stream goes on
            fault = DecoderFault(f"{self.name}: decoder fault on this line ({type(exc).__name__})", offset)
            fault.__cause__ = exc
            return Reading(offset, line, error=fault)

    def parse_line(self, text: str, offset: int, raw: bytes) -> Reading:
        raise NotImplementedError


MAX_DIGITS = 15  # no bedside device prints more; longer numbers are garbage, not readings
MAX_EXPONENT = 20


def _number(text: str, offset: int, what: str) -> Decimal | None:
    """Decimal of a device number; dashes ("---", "--.-") mean no value.

    Only finite numbers of at most MAX_DIGITS digits and a small exponent are numbers: "NaN", "Infinity"
    and `+1111111111111111111111111111111.4` are malformed input (DeviceCodecError), never a value.
    """
    t = text.rstrip("%")
    if not t or set(t) <= {"-", ".", "+"}:
        return None
    try:
        value = Decimal(t)
    except InvalidOperation as exc:
        raise DeviceCodecError(f"{what} is not a number: {t[:20]!r}", offset) from exc
    if not value.is_finite():
        raise DeviceCodecError(f"{what} is not a finite number: {t[:20]!r}", offset)
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    if len(digits) > MAX_DIGITS or abs(exponent) > MAX_EXPONENT:
        raise DeviceCodecError(f"{what} has {len(digits)} digit(s), exponent {exponent}: not a device number", offset)
    return value


class MasimoDecoder(LineDecoder):
    """Masimo ASCII-1 pulse-oximeter lines -> SpO2, pulse rate and perfusion index Observations."""

    name = "masimo"

    def parse_line(self, text: str, offset: int, raw: bytes) -> Reading:
        fields: dict[str, object] = {}
        positions: dict[str, int] = {}
        when: datetime | None = None
        tokens: list[tuple[int, str]] = []
        for m in re.finditer(r"\S+", text):
            tokens.append((m.start(), m.group()))
        if len(tokens) >= 2 and "=" not in tokens[0][1] and "=" not in tokens[1][1]:
            (p0, date_s), (_, time_s) = tokens[0], tokens[1]
            try:
                when = datetime.strptime(f"{date_s} {time_s}", "%m/%d/%y %H:%M:%S")
            except ValueError as exc:
                raise DeviceCodecError(f"masimo: bad date/time {date_s} {time_s}", offset + p0) from exc
            tokens = tokens[2:]
        for pos, tok in tokens:
            key, sep, value = tok.partition("=")
            if not sep or not key:
                raise DeviceCodecError(f"masimo: token {tok[:20]!r} is not KEY=VALUE", offset + pos)
            fields[key.upper()] = value
            positions[key.upper()] = offset + pos + len(key) + 1
        if "SPO2" not in fields and "BPM" not in fields:
            raise DeviceCodecError("masimo: line has neither SPO2= nor BPM=", offset)
        exc_bits = 0
        if "EXC" in fields:
            try:
                exc_bits = int(str(fields["EXC"]), 16)
            except ValueError as e:
                raise DeviceCodecError(f"masimo: EXC is not hex: {fields['EXC']!r}", positions["EXC"]) from e
        alarm = 0
        if "ALARM" in fields:
            try:
                alarm = int(str(fields["ALARM"]), 16)
            except ValueError as e:
                raise DeviceCodecError(f"masimo: ALARM is not hex: {fields['ALARM']!r}", positions["ALARM"]) from e
        flags = [name for bit, name in MASIMO_EXCEPTIONS.items() if exc_bits & bit]
        if alarm:
            flags.append(f"alarm:{alarm:04X}")
        device_id = self.device_id or (f"masimo-{fields['SN']}" if "SN" in fields else "")
        observations = []
        for key, code, unit in (
            ("SPO2", mdc.MDC_PULS_OXIM_SAT_O2, mdc.MDC_DIM_PERCENT),
            ("BPM", mdc.MDC_PULS_OXIM_PULS_RATE, mdc.MDC_DIM_BEAT_PER_MIN),
            ("PI", MDC_PULS_OXIM_PERF_REL, mdc.MDC_DIM_PERCENT),
        ):
            if key not in fields:
                continue
            num = _number(str(fields[key]), positions[key], f"masimo: {key}")
            fields[key] = None if num is None else format(num, "f")
            if num is not None:
                observations.append(
                    make_observation(
                        code,
                        num,
                        unit,
                        effective=when,
                        device_id=device_id,
                        flags=list(flags),
                        source="masimo",
                    )
                )
        fields["exceptions"] = flags
        if when is not None:
            fields["time"] = when.isoformat()
        return Reading(offset, raw, fields, observations)


_AND_UNITS = {"g": mdc.MDC_DIM_X_G, "kg": mdc.MDC_DIM_KILO_G, "lb": mdc.MDC_DIM_LB}
_AND_HEADERS = {"ST": "stable", "US": "unstable", "OL": "overload", "QT": "count"}
_AND_RE = re.compile(r"^([+-]?[0-9. ]+?(?:E[+-]?\d+)?)\s*([A-Za-z%]*)\s*$")


class AndWeightDecoder(LineDecoder):
    """A&D balance/scale output lines (`ST,+00012.345  g`) -> body-mass Observations (kept in g/kg/lb)."""

    name = "and"

    def __init__(self, device_id: str = "", code: int = mdc.MDC_MASS_BODY_ACTUAL) -> None:
        super().__init__(device_id)
        self.code = code

    def parse_line(self, text: str, offset: int, raw: bytes) -> Reading:
        header = text[:2]
        if header not in _AND_HEADERS:
            raise DeviceCodecError(f"and: unknown header {header!r} (want ST, US, OL or QT)", offset)
        if text[2:3] != ",":
            raise DeviceCodecError("and: missing ',' after the header", offset + 2)
        fields: dict[str, object] = {"status": _AND_HEADERS[header]}
        if header == "OL":
            return Reading(offset, raw, fields, [])  # overload carries no usable value
        m = _AND_RE.match(text[3:])
        if not m:
            raise DeviceCodecError(f"and: bad data field {text[3:20]!r}", offset + 3)
        num_text, unit = m.group(1).replace(" ", ""), m.group(2)
        num = _number(num_text, offset + 3, "and: weight")
        fields.update(value=None if num is None else format(num, "f"), unit=unit)
        if header == "QT" or num is None:
            return Reading(offset, raw, fields, [])
        unit_code = _AND_UNITS.get(unit.lower())
        if unit_code is None:
            raise DeviceCodecError(f"and: unknown unit {unit!r} (want g, kg or lb)", offset + 3 + m.start(2))
        flags = ["unstable"] if header == "US" else []
        obs = make_observation(self.code, num, unit_code, device_id=self.device_id, flags=flags, source="and")
        return Reading(offset, raw, fields, [obs])


def encode_masimo_line(
    spo2: int | None,
    bpm: int | None,
    *,
    pi: str | None = None,
    when: datetime | None = None,
    serial_number: str = "0000000001",
    alarm: int = 0,
    exceptions: int = 0x000800,
) -> bytes:
    """A Masimo ASCII-1 line as a Rad-8 prints it (simulators and tests)."""
    parts = []
    if when is not None:
        parts.append(when.strftime("%m/%d/%y %H:%M:%S"))
    parts.append(f"SN={serial_number}")
    parts.append(f"SPO2={spo2:03d}%" if spo2 is not None else "SPO2=---%")
    parts.append(f"BPM={bpm:03d}" if bpm is not None else "BPM=---")
    parts.append(f"PI={pi}%" if pi is not None else "PI=--.--%")
    parts.append(f"SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM={alarm:04X} EXC={exceptions:06X}")
    return (" ".join(parts) + "\r\n").encode("ascii")


def encode_and_line(value: str | Decimal | float, unit: str = "g", header: str = "ST") -> bytes:
    """An A&D output line: header, comma, 9-character signed value, 3-character unit, CR LF."""
    if header == "OL":
        return b"OL,+9999999E+19\r\n"
    dec = Decimal(str(value))
    text = f"{'+' if dec >= 0 else '-'}{format(abs(dec), 'f').rjust(9, '0')}"
    return f"{header},{text}{unit.rjust(3)}\r\n".encode("ascii")

"""NDEF records and NFC Forum PHDC (Personal Health Device Communication) framing, as bytes.

NDEF (NFC Forum NDEF 1.0): a message is records; each record starts with a flags byte
MB 0x80 | ME 0x40 | CF 0x20 | SR 0x10 | IL 0x08 | TNF (3 bits), then type length, payload length (1 byte
when SR, else 4 bytes big-endian), id length (when IL), type, id, payload. Chunked records (CF) are
refused: tags written by bedside devices and by renkei never use them.

PHDC over a tag: the agent (the device) is a tag whose NDEF message is one well-known record of type
"PHD" (`urn:nfc:wkt:PHD`); its payload is a 1-byte header and then one IEEE 11073-20601 APDU (or nothing:
an empty PHD message, "nothing to say"). Header bits: 0x80 MC (message counter present), 0x0F the
message counter (mod 16), 0x70 reserved (must be 0). The agent's first message carries header 0x00;
after that every message carries MC and the next counter value, manager and agent alternating. The
manager reads the agent's record, clears the tag (writes an empty NDEF record), writes its own answer
and polls until the agent's next record appears: the read-clear-poll cycle. `PhdcManagerLink` runs
that cycle over any `read()`/`write()` pair (nfcpy's Tag.ndef in `nfc.py`, plain bytes in tests)
and drives the codec engineer's transport-independent `PhdManager`.

Identity tags: a nurse badge or patient wristband/card is identified by its tag id (IDm / UID) through
the device registry, or by a text or URI record `renkei:patient:<id>` / `renkei:nurse:<id>`.
Vendor payloads (Omron, A&D, Terumo …) are not public: decoders plug in through the entry-point group
`renkei.device_decoders` (see `vendor_decoders`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points

from renkei.devices import ieee11073 as p
from renkei.devices.errors import DeviceCodecError
from renkei.devices.phd_manager import ManagerState, PhdManager
from renkei.records import Observation

log = logging.getLogger("renkei.devices.phdc")

TNF_EMPTY = 0
TNF_WELL_KNOWN = 1
TNF_MEDIA = 2
TNF_URI = 3
TNF_EXTERNAL = 4

PHD_TYPE = b"PHD"
PHD_MC = 0x80
PHD_RESERVED = 0x70
PHD_COUNTER = 0x0F

# The empty record (TNF 0): what a manager writes to clear the tag after reading the agent's message.
EMPTY_MESSAGE = bytes([0xD0, 0x00, 0x00])

# NFC Forum URI record prefixes (URI RTD 1.0, table 3); only the ones a wristband is likely to carry.
_URI_PREFIXES = {0: "", 1: "http://www.", 2: "https://www.", 3: "http://", 4: "https://", 5: "tel:", 6: "mailto:"}

DECODER_GROUP = "renkei.device_decoders"


@dataclass(slots=True, frozen=True)
class NdefRecord:
    tnf: int
    type: bytes = b""
    payload: bytes = b""
    id: bytes = b""

    @property
    def type_name(self) -> str:
        """nfcpy/ndeflib style name: urn:nfc:wkt:T, urn:nfc:ext:…, the media type, or ''."""
        if self.tnf == TNF_WELL_KNOWN:
            return "urn:nfc:wkt:" + self.type.decode("latin-1")
        if self.tnf == TNF_EXTERNAL:
            return "urn:nfc:ext:" + self.type.decode("latin-1")
        if self.tnf in (TNF_MEDIA, TNF_URI):
            return self.type.decode("latin-1")
        return ""


# ------------------------------------------------------------------------------------------- NDEF codec


def encode_message(records: list[NdefRecord]) -> bytes:
    if not records:
        return EMPTY_MESSAGE
    out = bytearray()
    for i, r in enumerate(records):
        if not 0 <= r.tnf <= 6:
            raise ValueError(f"record {i}: TNF {r.tnf} is not 0..6")
        short = len(r.payload) < 256
        flags = r.tnf | (0x80 if i == 0 else 0) | (0x40 if i == len(records) - 1 else 0)
        flags |= (0x10 if short else 0) | (0x08 if r.id else 0)
        out.append(flags)
        out.append(len(r.type))
        out += len(r.payload).to_bytes(1 if short else 4, "big")
        if r.id:
            out.append(len(r.id))
        out += r.type + r.id + r.payload
    return bytes(out)


def decode_message(data: bytes, base: int = 0) -> list[NdefRecord]:
    """Records of one NDEF message; `base` offsets the byte positions named in errors."""
    records: list[NdefRecord] = []
    pos = 0
    n = len(data)
    if n == 0:
        raise DeviceCodecError("empty NDEF message", base)
    while pos < n:
        start = pos
        flags = data[pos]
        tnf = flags & 0x07
        if not records and not flags & 0x80:
            raise DeviceCodecError("first NDEF record lacks the MB (message begin) flag", base + start)
        if records and flags & 0x80:
            raise DeviceCodecError("MB flag set on a record that is not the first", base + start)
        if flags & 0x20:
            raise DeviceCodecError("chunked NDEF records (CF flag) are not supported", base + start)
        if tnf == 7:
            raise DeviceCodecError("TNF 7 is reserved", base + start)
        header = 2 + (1 if flags & 0x10 else 4) + (1 if flags & 0x08 else 0)
        if pos + header > n:
            raise DeviceCodecError(f"NDEF record header needs {header} bytes, {n - pos} left", base + start)
        type_len = data[pos + 1]
        pos += 2
        if flags & 0x10:
            payload_len = data[pos]
            pos += 1
        else:
            payload_len = int.from_bytes(data[pos : pos + 4], "big")
            pos += 4
        id_len = 0
        if flags & 0x08:
            id_len = data[pos]
            pos += 1
        if tnf == TNF_EMPTY and (type_len or payload_len or id_len):
            raise DeviceCodecError("empty record (TNF 0) with a type, id or payload", base + start)
        end = pos + type_len + id_len + payload_len
        if end > n:
            raise DeviceCodecError(
                f"NDEF record declares {type_len + id_len + payload_len} bytes of type/id/payload, {n - pos} left",
                base + start,
            )
        rtype = bytes(data[pos : pos + type_len])
        rid = bytes(data[pos + type_len : pos + type_len + id_len])
        payload = bytes(data[pos + type_len + id_len : end])
        records.append(NdefRecord(tnf, rtype, payload, rid))
        pos = end
        if flags & 0x40:
            if pos != n:
                raise DeviceCodecError(f"{n - pos} bytes after the record with the ME flag", base + pos)
            return records
    raise DeviceCodecError("NDEF message ends without a record carrying the ME (message end) flag", base + n)


def text_record(text: str, lang: str = "en") -> NdefRecord:
    code = lang.encode("ascii")
    return NdefRecord(TNF_WELL_KNOWN, b"T", bytes([len(code)]) + code + text.encode("utf-8"))


def uri_record(uri: str) -> NdefRecord:
    return NdefRecord(TNF_WELL_KNOWN, b"U", b"\x00" + uri.encode("utf-8"))


def record_text(record: NdefRecord) -> str | None:
    """The text of a Text (T) or URI (U) record; None for any other record."""
    if record.tnf != TNF_WELL_KNOWN or not record.payload:
        return None
    if record.type == b"T":
        status = record.payload[0]
        lang_len = status & 0x3F
        body = record.payload[1 + lang_len :]
        try:
            return body.decode("utf-16" if status & 0x80 else "utf-8")
        except UnicodeDecodeError:
            return None
    if record.type == b"U":
        prefix = _URI_PREFIXES.get(record.payload[0])
        if prefix is None:
            return None
        try:
            return prefix + record.payload[1:].decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def identity_of(records: list[NdefRecord]) -> tuple[str, str] | None:
    """(role, id) from the first `renkei:<patient|nurse>:<id>` text/URI record, else None."""
    for r in records:
        text = record_text(r)
        if text is None or not text.startswith("renkei:"):
            continue
        parts = text.split(":", 2)
        if len(parts) == 3 and parts[1] in ("patient", "nurse") and parts[2].strip():
            return parts[1], parts[2].strip()
    return None


# ------------------------------------------------------------------------------------------- PHDC framing


@dataclass(slots=True, frozen=True)
class PhdMessage:
    counter: int  # 0..15
    apdu: bytes  # may be empty
    mc: bool = True  # False only on the agent's first message


def encode_phd(msg: PhdMessage) -> bytes:
    """The NDEF message (one PHD record) carrying `msg`."""
    if not 0 <= msg.counter <= 15:
        raise ValueError(f"PHD message counter {msg.counter} is not 0..15")
    header = (PHD_MC if msg.mc else 0) | msg.counter
    return encode_message([NdefRecord(TNF_WELL_KNOWN, PHD_TYPE, bytes([header]) + msg.apdu)])


def phd_payload(records: list[NdefRecord]) -> bytes | None:
    """The payload of the PHD record when the message is one; else None."""
    if len(records) == 1 and records[0].tnf == TNF_WELL_KNOWN and records[0].type == PHD_TYPE:
        return records[0].payload
    return None


def decode_phd(payload: bytes, base: int = 0) -> PhdMessage:
    """A PHD record payload: header byte, then the APDU; `base` is the payload's offset for errors."""
    if not payload:
        raise DeviceCodecError("PHD record without its header byte", base)
    header = payload[0]
    if header & PHD_RESERVED:
        raise DeviceCodecError(f"PHD header 0x{header:02X}: reserved bits 0x70 must be 0", base)
    if not header & PHD_MC and header & PHD_COUNTER:
        raise DeviceCodecError(f"PHD header 0x{header:02X}: message counter without the MC flag", base)
    apdu = bytes(payload[1:])
    if apdu:
        # validate the APDU length field here so framing errors point into the record
        if len(apdu) < 4:
            raise DeviceCodecError(f"APDU of {len(apdu)} bytes is shorter than its 4-byte header", base + 1)
        declared = int.from_bytes(apdu[2:4], "big")
        if declared != len(apdu) - 4:
            raise DeviceCodecError(
                f"APDU length field says {declared} bytes, the PHD record carries {len(apdu) - 4}", base + 3
            )
    return PhdMessage(header & PHD_COUNTER, apdu, bool(header & PHD_MC))


def read_phd_message(ndef: bytes) -> PhdMessage | None:
    """A PHD message from raw NDEF octets; None when the tag holds something else (e.g. cleared)."""
    if not ndef:
        return None
    payload = phd_payload(decode_message(ndef))
    if payload is None:
        return None
    return decode_phd(payload, _payload_offset(ndef))


def _payload_offset(ndef: bytes) -> int:
    flags = ndef[0]
    return 2 + (1 if flags & 0x10 else 4) + (1 if flags & 0x08 else 0) + ndef[1] + (ndef[3] if flags & 0x08 else 0)


# ------------------------------------------------------------------------------------------- manager link


class PhdcLinkError(Exception):
    """The PHDC exchange broke off (timeout, wrong counter, tag gone); the reading was not confirmed."""


@dataclass(slots=True)
class PhdcResult:
    device_id: str = ""
    observations: list[Observation] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    refused: str = ""  # the admit() refusal, when the device was turned away before any report
    released: bool = False


Admit = Callable[[str], str]  # device id -> "" (go on) or a refusal message
Commit = Callable[[str, list[Observation]], None]  # store durably; raise to refuse confirming


class PhdcManagerLink:
    """The manager side of PHDC over a tag: read-clear-poll, driving a `PhdManager`.

    `read()` returns the tag's current NDEF octets (re-read from the tag); `write(octets)` replaces them.
    `admit(device_id)` is asked right after the association request; a non-empty answer aborts the
    association before any reading is confirmed, so the device keeps its memory. `commit(device_id,
    observations)` is called for each data report BEFORE its confirmation is written to the device:
    if it raises, the association is aborted and the device keeps the reading for the next tap.

    The device's clock: at the agent's first data report the manager does not confirm it yet but asks for
    the MDS attributes (an IEEE 11073-20601 GET of object handle 0, which an agent in the Operating state
    answers); the Absolute-Time in the answer is `manager.device_clock` when the held report, and every
    later one, is committed and confirmed. PHDC lets the manager speak only after each agent message, and
    that report is the first turn it gets after the association. An agent that answers the GET with an
    error or a reject has no clock to tell (committed without one); one that answers with anything else is
    aborted (nothing confirmed: it keeps its memory), noted in `no_clock_devices` (the reader shares the
    set) and not asked again. An agent that does not answer at all times out like any broken exchange.
    """

    def __init__(
        self,
        read: Callable[[], bytes],
        write: Callable[[bytes], None],
        *,
        manager: PhdManager | None = None,
        admit: Admit | None = None,
        commit: Commit | None = None,
        poll_interval: float = 0.02,
        reply_timeout: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        ask_clock: bool = True,
        no_clock_devices: set[str] | None = None,
    ) -> None:
        self.read, self.write = read, write
        self.manager = manager or PhdManager()
        self.admit = admit or (lambda _device: "")
        self.commit = commit or (lambda _device, _obs: None)
        self.poll_interval = poll_interval
        self.reply_timeout = reply_timeout
        self.clock, self.sleep = clock, sleep
        self.next_counter = 1
        self.ask_clock = ask_clock
        # devices (system id hex) seen not to answer the MDS GET: not asked again (shared by the reader)
        self.no_clock_devices = no_clock_devices if no_clock_devices is not None else set()

    def run(self, first: PhdMessage, max_messages: int = 64) -> PhdcResult:
        """Serve one agent whose first message (header 0x00) was read from the tag."""
        result = PhdcResult()
        if first.mc:
            raise PhdcLinkError(f"agent's first PHD message carries counter {first.counter}; expected header 0x00")
        self.next_counter = 1
        incoming = first.apdu
        asked = False  # the MDS GET was sent in this association
        deferred = None  # the first data report, held unconfirmed while its GET is answered
        for _ in range(max_messages):
            replies: list[bytes] = []
            if incoming:
                try:
                    step = self.manager.handle(incoming)
                except DeviceCodecError:
                    self._send(self.manager.abort())  # tell the device; its memory stays unconfirmed
                    raise
                result.events += [e.kind for e in step.events]
                result.device_id = result.device_id or self.manager.device_id
                if isinstance(step.apdu, p.Aarq) and self.manager.state is not ManagerState.UNASSOCIATED:
                    refusal = self.admit(self.manager.device_id)
                    if refusal:
                        result.refused = refusal
                        self._send(self.manager.abort())
                        return result
                    asked = False
                if deferred is not None:
                    if not self.manager.answers_mds_get(step.apdu):
                        self.no_clock_devices.add(self.manager.device_id)
                        self._send(self.manager.abort())  # the held report stays unconfirmed on the device
                        raise PhdcLinkError(f"agent answered the MDS GET with {p.apdu_name(step.apdu)}")
                    self.manager.mds_get_invoke = None
                    step = deferred  # the held report: committed now, with the device's clock, then confirmed
                    deferred = None
                elif step.observations and self._should_ask(asked):
                    asked, deferred = True, step
                    self._send(self.manager.get_mds_attributes())
                    incoming = self._await().apdu
                    continue
                if step.observations:
                    self.commit(self.manager.device_id, step.observations)  # raises: no confirmation sent
                    result.observations += step.observations
                replies = step.responses
                if isinstance(step.apdu, p.Rlrq | p.Abrt | p.Rlre):
                    result.released = True
                    for r in replies:
                        self._send(r)
                    return result
            if len(replies) > 1:
                log.warning("manager produced %d replies; only the first is sent over PHDC", len(replies))
            # one manager message per agent message: the reply, or an empty poll
            self._send(replies[0] if replies else b"")
            incoming = self._await().apdu
        raise PhdcLinkError(f"agent sent more than {max_messages} messages without releasing")

    def _should_ask(self, asked: bool) -> bool:
        return self.ask_clock and not asked and self.manager.device_id not in self.no_clock_devices

    def _send(self, apdu: bytes) -> None:
        self.write(encode_phd(PhdMessage(self.next_counter, apdu)))
        self.next_counter = (self.next_counter + 1) % 16

    def _await(self) -> PhdMessage:
        """Poll the tag until the agent's next message is there; then clear the tag."""
        counter = self.next_counter
        deadline = self.clock() + self.reply_timeout
        while True:
            octets = self.read()
            try:
                msg = read_phd_message(octets) if octets else None
            except DeviceCodecError:
                self._send(self.manager.abort())  # a malformed frame: abort, nothing of it is confirmed
                raise
            if msg is not None and msg.mc and msg.counter == counter:
                self.write(EMPTY_MESSAGE)
                self.next_counter = (counter + 1) % 16
                return msg
            if self.clock() > deadline:
                raise PhdcLinkError(f"no PHD message {counter} from the agent within {self.reply_timeout:.1f} s")
            self.sleep(self.poll_interval)


# ------------------------------------------------------------------------------------------- vendor plugins

VendorDecoder = Callable[[NdefRecord, str], "list[Observation] | None"]


@cache
def vendor_decoders() -> dict[str, VendorDecoder]:
    """Installed vendor payload decoders (entry-point group `renkei.device_decoders`), by name.

    A decoder is `decode(record, tag_id) -> list[Observation] | None`: None means "not my record".
    It raises DeviceCodecError (an InputError) on a payload it recognises but cannot read.
    """
    return {ep.name: ep.load() for ep in entry_points(group=DECODER_GROUP)}


def decode_vendor(records: list[NdefRecord], tag_id: str) -> tuple[str, list[Observation]] | None:
    """The first installed decoder that recognises one of `records`: (decoder name, observations)."""
    for name, decoder in sorted(vendor_decoders().items()):
        for record in records:
            found = decoder(record, tag_id)
            if found is not None:
                return name, found
    return None

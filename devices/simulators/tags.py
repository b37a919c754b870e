"""Emulated FeliCa Type 3 tags for nfcpy's card mode: identity tags and a PHDC agent tag.

`Type3Memory` is the tag memory an NFC Forum Type 3 tag exposes through services 0x0009 (NDEF write) and
0x000B (NDEF read): block 0 is the attribute information block (version, Nbr/Nbw, Nmaxb, WriteF, RW
flag, Ln, checksum), blocks 1… the NDEF message. nfcpy writes NDEF as: attribute block with WriteF=0x0F,
the data blocks, then the attribute block with WriteF=0x00 and the new length — that last write is the
moment a complete message has arrived.

Honest approximation: nfcpy can only emulate a Type 3 tag, so the simulated PHDC device is a Type 3 tag
whose NDEF data the simulator rewrites between the manager's reads (as nfcpy's own `phdc-test-agent`
example does). A real PHDC agent is usually a Type 4 tag or an NFC-DEP peer; the PHD record framing,
counters and the manager's read-clear-poll cycle are the same, the tag type underneath is not.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from renkei.devices.errors import DeviceCodecError
from renkei.devices.ndef_phdc import NdefRecord, PhdMessage, encode_message, encode_phd, read_phd_message

log = logging.getLogger("renkei.simulators.tags")

# PMm: bytes 5 and 6 tell the reader how long to wait for a Read / Write Without Encryption answer
# (FeliCa: 302.1 us x ((B+1)·blocks + A+1) x 4^E with byte = E<<6 | B<<3 | A). A real tag answers in
# microseconds; this emulation answers from another process over UDP, so it announces the slowest timing
# the format allows (0xFF: ~0.3 s for one block, ~0.8 s for four) rather than a card's 0x49/0x93 (~12/35 ms),
# which a loaded 2-core machine misses ("NDEF write failed"). An answer in time is read at once either way.
FELICA_PMM = bytes.fromhex("03014B024FFFFFFF")
NFC_FORUM_SYS = bytes.fromhex("12FC")


class Type3Memory:
    def __init__(self, ndef: bytes = b"", *, data_blocks: int = 32, nbr: int = 4, nbw: int = 4) -> None:
        self.nbr, self.nbw, self.nmaxb = nbr, nbw, data_blocks
        self.blocks = bytearray(16 * (1 + data_blocks))
        self.on_written: Callable[[bytes], None] = lambda _ndef: None
        self.reads = 0
        self.lock = threading.Lock()
        self.set_ndef(ndef)

    def _attribute(self, ln: int, writef: int = 0) -> bytes:
        a = bytearray(16)
        a[0], a[1], a[2] = 0x10, self.nbr, self.nbw
        a[3:5] = self.nmaxb.to_bytes(2, "big")
        a[9], a[10] = writef, 0x01  # RW flag 0x01: read/write
        a[11:14] = ln.to_bytes(3, "big")
        a[14:16] = (sum(a[:14]) & 0xFFFF).to_bytes(2, "big")
        return bytes(a)

    def set_ndef(self, ndef: bytes) -> None:
        if len(ndef) > 16 * self.nmaxb:
            raise ValueError(f"NDEF message of {len(ndef)} bytes exceeds the tag's {16 * self.nmaxb}")
        with self.lock:
            self.blocks[16 : 16 + len(ndef)] = ndef
            self.blocks[0:16] = self._attribute(len(ndef))

    def ndef(self) -> bytes:
        ln = int.from_bytes(self.blocks[11:14], "big")
        return bytes(self.blocks[16 : 16 + ln])

    # nfcpy Type3TagEmulation service callbacks
    def read_block(self, number: int, _rb: bool, _re: bool) -> bytes | None:
        if number < len(self.blocks) // 16:
            self.reads += 1
            with self.lock:
                return bytes(self.blocks[number * 16 : (number + 1) * 16])
        return None

    def write_block(self, number: int, data: bytes, _wb: bool, _we: bool) -> bool:
        if number >= len(self.blocks) // 16:
            return False
        with self.lock:
            self.blocks[number * 16 : (number + 1) * 16] = data
        if number == 0 and data[9] == 0x00:
            self.on_written(self.ndef())
        return True


class EmulatedTag:
    """A tag the simulator presents: its IDm, its memory, and when the tap is over."""

    kind = "tag"

    def __init__(self, idm: bytes, memory: Type3Memory) -> None:
        if len(idm) != 8:
            raise ValueError("a FeliCa IDm is 8 bytes")
        self.idm = idm
        self.memory = memory

    def sensf_res(self) -> bytes:
        return b"\x01" + self.idm + FELICA_PMM + NFC_FORUM_SYS

    def done(self) -> bool:
        raise NotImplementedError

    def reset(self) -> None:
        """Ready to be tapped again."""


class IdentityTag(EmulatedTag):
    """A badge, wristband or card: identified by its IDm and optionally a `renkei:<role>:<id>` record."""

    kind = "identity"

    def __init__(self, idm: bytes, records: list[NdefRecord] | None = None) -> None:
        super().__init__(idm, Type3Memory(encode_message(records) if records else b""))

    def done(self) -> bool:
        # the attribute block plus at least one data block were read: the reader has seen the tag
        return self.memory.reads >= (2 if self.memory.ndef() else 1)

    def reset(self) -> None:
        self.memory.reads = 0


class AgentScript:
    """What an IEEE 11073 agent says next, given the manager's last APDU (empty: a poll)."""

    def first(self) -> bytes:
        raise NotImplementedError

    def reply(self, apdu: bytes) -> bytes | None:
        """The next APDU to send (b"" for an empty PHD message), or None when the exchange is over."""
        raise NotImplementedError


class PhdcAgentTag(EmulatedTag):
    """A PHDC agent as a Type 3 tag: answers each complete manager write by rewriting its NDEF data."""

    kind = "phdc"

    def __init__(self, idm: bytes, script_factory: Callable[[], AgentScript]) -> None:
        super().__init__(idm, Type3Memory())
        self.script_factory = script_factory
        self.memory.on_written = self._on_written
        self.finished = False
        self.errors: list[str] = []
        self.reset()

    def reset(self) -> None:
        self.script = self.script_factory()
        self.expect = 1
        self.finished = False
        self.memory.set_ndef(encode_phd(PhdMessage(0, self.script.first(), mc=False)))

    def done(self) -> bool:
        return self.finished

    def _on_written(self, ndef: bytes) -> None:
        try:
            msg = read_phd_message(ndef)
        except DeviceCodecError as exc:
            self.errors.append(str(exc))
            return
        if msg is None:
            return  # the manager cleared the tag after reading our message
        if not msg.mc or msg.counter != self.expect:
            self.errors.append(f"manager message counter {msg.counter}, expected {self.expect}")
            return
        reply = self.script.reply(msg.apdu)
        if reply is None:
            self.finished = True
            return
        self.memory.set_ndef(encode_phd(PhdMessage((msg.counter + 1) % 16, reply)))
        self.expect = (msg.counter + 2) % 16

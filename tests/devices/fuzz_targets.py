"""The device decoders under fuzz, one callable each, and a fast seeded mutator for the long run.

Every target takes bytes and may only return or raise `DeviceCodecError` (never `DecoderFault`, which
marks a decoder bug). Serial targets feed the bytes in two chunks and check every reading's error.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable

import device_vectors as v

from renkei.devices import ndef_phdc as nd
from renkei.devices.describe import decode_capture, read_input
from renkei.devices.errors import DecoderFault, DeviceCodecError
from renkei.devices.gatt import decode_gatt
from renkei.devices.ieee11073 import decode_apdu, split_apdus
from renkei.devices.intellivue import IntelliVueDecoder, Numeric, encode_frame, encode_numerics
from renkei.devices.phd_manager import PhdManager
from renkei.devices.serial_protocols import AndWeightDecoder, MasimoDecoder, encode_and_line, encode_masimo_line

APDU_SEEDS = [v.AARQ_SCALE_4000, v.CONFIG_SCALE_4000, v.SCAN_FIXED_SCALE, v.UNBUF_VAR_SPO2, v.GET_RESULT, v.SET_TIME,
              v.RLRQ, v.ABRT, v.AARE_UNKNOWN_CONFIG]
GATT_SEEDS = [bytes.fromhex("1E7800500060E4070501071E00480001000000"), bytes.fromhex("01A0F06BF07DF0"),
              bytes.fromhex("076E0100FF0E07E8050107300003"), bytes.fromhex("0B2A00E40705010730000000FAB011F200")]
NDEF_SEEDS = [nd.encode_message([nd.text_record("renkei:patient:9999013")]),
              nd.encode_message([nd.NdefRecord(nd.TNF_WELL_KNOWN, b"PHD", b"\x00" + v.AARQ_SCALE_4000)])]
MASIMO_SEEDS = [encode_masimo_line(97, 72, pi="03.60"), b"SPO2=097% BPM=072 EXC=000800 ALARM=0000\r\n"]
AND_SEEDS = [encode_and_line("52.4", "kg"), b"ST,+1111111111111111111111111111111.4 kg\r\n", b"OL,+9999999E+19\r\n"]
IVUE_SEEDS = [encode_frame(encode_numerics(None, [Numeric(19384, 97, 544), Numeric(18458, 72, 2720, state=0x4000)]))]
SERIAL_TOKENS = [b"ST,", b"US,", b"QT,", b"+", b"-", b"1" * 31, b".4", b" kg", b" g", b"E+99999", b"NaN",
                 b"Infinity", b"\r\n", b"SPO2=", b"BPM=", b"PI=", b"EXC=", b"ALARM=", b"---", b"01/02/24 ",
                 b"12:00:00 ", b"\xc0", b"\xc1", b"\x7d", b"\xff"]


def _apdu(data: bytes) -> None:
    for fn in (decode_apdu, split_apdus):
        with contextlib.suppress(DeviceCodecError):
            fn(data)


def _associated() -> PhdManager:
    mgr = PhdManager()
    for apdu in (v.AARQ_SCALE_4000, v.CONFIG_SCALE_4000):
        mgr.handle(apdu)
    return mgr


_OPERATING = _associated()  # associating once keeps a million-input run affordable


def _manager(data: bytes) -> None:
    """One manager step on an associated link (the scale's extended configuration), then an unassociated one."""
    mgr = PhdManager()
    mgr.state, mgr.config, mgr.device_id = _OPERATING.state, _OPERATING.config, _OPERATING.device_id
    for m in (mgr, PhdManager()):
        try:
            m.handle(data)
        except DeviceCodecError:
            m.abort()


def _capture(data: bytes) -> None:
    decode_capture("11073", data)


EXCHANGE = v.AARQ_SCALE_4000 + v.CONFIG_SCALE_4000 + v.SCAN_FIXED_SCALE + v.RLRQ


def _gatt(kind: str) -> Callable[[bytes], None]:
    return lambda data: decode_gatt(kind, data)  # type: ignore[return-value]


def _ndef(data: bytes) -> None:
    nd.read_phd_message(data)


def _serial(cls: type) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        decoder = cls()
        cut = len(data) // 2
        for reading in decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.flush():
            if reading.error is not None:
                raise reading.error
    return run


def _hex_input(data: bytes) -> None:
    read_input(data, "hex", "11073")


TARGETS: dict[str, tuple[Callable[[bytes], None], list[bytes]]] = {
    "mder-apdu": (_apdu, APDU_SEEDS),
    "manager-step": (_manager, APDU_SEEDS),
    "describe-11073": (_capture, [EXCHANGE, *APDU_SEEDS]),
    "gatt-bp": (_gatt("gatt-bp"), GATT_SEEDS),
    "gatt-temp": (_gatt("gatt-temp"), GATT_SEEDS),
    "gatt-glucose": (_gatt("gatt-glucose"), GATT_SEEDS),
    "ndef-phdc": (_ndef, NDEF_SEEDS),
    "phd-header": (lambda d: nd.decode_phd(d), [b"\x00" + v.AARQ_SCALE_4000, b"\x81" + v.RLRQ]),
    "serial-masimo": (_serial(MasimoDecoder), MASIMO_SEEDS),
    "serial-and": (_serial(AndWeightDecoder), AND_SEEDS),
    "serial-intellivue": (_serial(IntelliVueDecoder), IVUE_SEEDS),
    "hex-input": (_hex_input, [v.AARQ_SCALE_4000.hex().encode()]),
}


def check(target: Callable[[bytes], None], data: bytes) -> None:
    """Run one input: DeviceCodecError is the documented failure; DecoderFault or anything else escapes."""
    try:
        target(data)
    except DecoderFault:
        raise
    except DeviceCodecError:
        pass


def mutate(rnd: random.Random, seeds: list[bytes], serial: bool) -> bytes:
    """A seed with bytes flipped, cut, spliced or token-built: reaches deep into the decoders fast."""
    choice = rnd.random()
    if serial and choice < 0.35:
        return b"".join(rnd.choice(SERIAL_TOKENS) for _ in range(rnd.randint(1, 10)))
    if choice < 0.1:
        return rnd.randbytes(rnd.randint(0, 64))
    data = bytearray(rnd.choice(seeds))
    for _ in range(rnd.randint(0, 4)):
        if data:
            data[rnd.randrange(len(data))] = rnd.randrange(256)
    if rnd.random() < 0.5:
        data = data[: rnd.randint(0, len(data))]
    if rnd.random() < 0.3:
        data += rnd.randbytes(rnd.randint(0, 8))
    return bytes(data)

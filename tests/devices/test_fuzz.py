"""Arbitrary bytes only ever give a result or DeviceCodecError: never another exception, never a hang."""

from __future__ import annotations

import contextlib

import device_vectors as v
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renkei.devices.errors import DeviceCodecError
from renkei.devices.gatt import GATT_KINDS, decode_gatt
from renkei.devices.ieee11073 import decode_apdu, split_apdus
from renkei.devices.intellivue import IntelliVueDecoder
from renkei.devices.phd_manager import PhdManager
from renkei.devices.serial_protocols import AndWeightDecoder, MasimoDecoder

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = [v.AARQ_SCALE_4000, v.CONFIG_SCALE_4000, v.SCAN_FIXED_SCALE, v.UNBUF_VAR_SPO2, v.GET_RESULT, v.SET_TIME]


@st.composite
def mutated_apdu(draw: st.DrawFn) -> bytes:
    """A real APDU with a few bytes flipped, cut or appended: reaches deep into the decoders."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=8))


@FUZZ
@given(st.one_of(st.binary(max_size=200), mutated_apdu()))
def test_ieee11073_decoder(data: bytes) -> None:
    with contextlib.suppress(DeviceCodecError):
        decode_apdu(data)
    with contextlib.suppress(DeviceCodecError):
        split_apdus(data)


@FUZZ
@given(st.lists(st.one_of(mutated_apdu(), st.binary(max_size=64)), max_size=4))
def test_manager_survives_any_sequence(apdus: list[bytes]) -> None:
    mgr = PhdManager()
    for data in [v.AARQ_SCALE_4000, v.CONFIG_SCALE_4000, *apdus]:
        try:
            mgr.handle(data)
        except DeviceCodecError:
            mgr.abort()


@FUZZ
@given(st.sampled_from(sorted(GATT_KINDS)), st.binary(max_size=40))
def test_gatt_decoders(kind: str, data: bytes) -> None:
    with contextlib.suppress(DeviceCodecError):
        decode_gatt(kind, data)


@FUZZ
@given(
    st.sampled_from([MasimoDecoder, AndWeightDecoder, IntelliVueDecoder]),
    st.lists(
        st.one_of(
            st.binary(max_size=64),
            st.sampled_from([b"\xc0", b"\xc1", b"\x7d", b"\r\n", b"SPO2=", b"ST,+", b"---", b"EXC=", b" kg"]),
        ),
        max_size=30,
    ),
)
def test_serial_decoders(cls: type, chunks: list[bytes]) -> None:
    decoder = cls()
    readings = []
    for chunk in chunks:
        readings += decoder.feed(chunk)
    readings += decoder.flush()
    for r in readings:
        assert r.error is None or isinstance(r.error, DeviceCodecError)

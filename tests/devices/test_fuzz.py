"""Arbitrary bytes only ever give a result or DeviceCodecError: never another exception, never a hang.

The short tests (hypothesis) run in the normal suite, one per decoder. The long run
(`test_long_fuzz_every_decoder`, marker `fuzz_long`) feeds RENKEI_FUZZ_LONG inputs (e.g. 1000000) to every
decoder from a seeded mutator and is skipped unless that variable is set:

    RENKEI_FUZZ_LONG=1000000 .venv/bin/python -m pytest -m fuzz_long tests/devices/test_fuzz.py -s
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter

import device_fuzz as fz
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def fuzz_input(draw: st.DrawFn, seeds: list[bytes], serial: bool) -> bytes:
    """Raw bytes, or a seed mutated by a hypothesis-driven Random (shrinks through the seed)."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=200))
    return fz.mutate(random.Random(draw(st.integers(0, 2**32))), seeds, serial)


def _short(name: str):  # type: ignore[no-untyped-def]
    target, seeds = fz.TARGETS[name]

    @FUZZ
    @given(fuzz_input(seeds, name.startswith("serial")))
    def test(data: bytes) -> None:
        fz.check(target, data)

    test.__name__ = f"test_fuzz_{name.replace('-', '_')}"
    return test


test_fuzz_mder_apdu = _short("mder-apdu")
test_fuzz_manager_step = _short("manager-step")
test_fuzz_describe_11073 = _short("describe-11073")
test_fuzz_gatt_bp = _short("gatt-bp")
test_fuzz_gatt_temp = _short("gatt-temp")
test_fuzz_gatt_glucose = _short("gatt-glucose")
test_fuzz_ndef_phdc = _short("ndef-phdc")
test_fuzz_phd_header = _short("phd-header")
test_fuzz_serial_masimo = _short("serial-masimo")
test_fuzz_serial_and = _short("serial-and")
test_fuzz_serial_intellivue = _short("serial-intellivue")
test_fuzz_hex_input = _short("hex-input")


def test_every_decoder_has_a_short_fuzz_test() -> None:
    names = {n for n in globals() if n.startswith("test_fuzz_")}
    assert names == {f"test_fuzz_{t.replace('-', '_')}" for t in fz.TARGETS}


@pytest.mark.fuzz_long
@pytest.mark.skipif(not os.environ.get("RENKEI_FUZZ_LONG"), reason="long fuzz: set RENKEI_FUZZ_LONG=<inputs>")
@pytest.mark.parametrize("name", sorted(fz.TARGETS))
def test_long_fuzz_every_decoder(name: str) -> None:
    count = int(os.environ.get("RENKEI_FUZZ_LONG", "0"))
    target, seeds = fz.TARGETS[name]
    rnd = random.Random(f"renkei-fuzz-{name}")
    unexpected: Counter[str] = Counter()
    started = time.perf_counter()
    for _ in range(count):
        data = fz.mutate(rnd, seeds, name.startswith("serial"))
        try:
            fz.check(target, data)
        except Exception as exc:  # counted, then reported all at once below
            unexpected[f"{type(exc).__name__}: {str(exc)[:80]} (input {data[:40].hex()})"] += 1
    seconds = time.perf_counter() - started
    print(f"\nfuzz {name}: {count} inputs, {sum(unexpected.values())} unexpected, {seconds:.0f} s")
    assert not unexpected, unexpected.most_common(5)

"""Device decoder throughput: APDUs/s for IEEE 11073 (decode only, and through the manager to
Observations), values/s for the BLE GATT codecs, frames/s for the serial protocols.

Run: /tmp/venv/bin/python bench/bench_device_decode.py [seconds-per-case]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime

from renkei.devices.gatt import BloodPressureMeasurement, decode_gatt, encode_blood_pressure
from renkei.devices.ieee11073 import decode_apdu
from renkei.devices.intellivue import IntelliVueDecoder, Numeric, encode_frame, encode_numerics
from renkei.devices.mder import MderNumber
from renkei.devices.phd_agent import PhdAgent
from renkei.devices.phd_manager import PhdManager
from renkei.devices.serial_protocols import AndWeightDecoder, MasimoDecoder, encode_and_line, encode_masimo_line

WHEN = datetime(2024, 5, 1, 7, 30)


def measure(label: str, unit: str, fn: Callable[[], int], seconds: float) -> None:
    fn()  # warm up
    n = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        n += fn()
    print(f"{label:<44} {n / elapsed:>12,.0f} {unit}/s")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    agent = PhdAgent("blood-pressure", bytes.fromhex("0011223344556677"))
    report = agent.fixed_report({"bp": (120, 80, 93), "pulse": 72}, WHEN)
    mgr = PhdManager()
    for out in agent.handle(mgr.handle(agent.aarq()).responses[0]):
        mgr.handle(out)
    batch = [report] * 200

    def apdu_decode() -> int:
        for data in batch:
            decode_apdu(data)
        return len(batch)

    def manager() -> int:
        for data in batch:
            mgr.handle(data)
        return len(batch)

    bp = encode_blood_pressure(
        BloodPressureMeasurement(
            MderNumber.of(120), MderNumber.of(80), MderNumber.of(93), timestamp=WHEN, pulse_rate=MderNumber.of(72)
        )
    )

    def gatt() -> int:
        for _ in range(200):
            decode_gatt("gatt-bp", bp)
        return 200

    masimo = encode_masimo_line(97, 72, pi="3.60", when=WHEN) * 200
    and_lines = encode_and_line("62.40", "kg") * 200
    frames = encode_frame(encode_numerics(WHEN, [Numeric(19384, 97, 544), Numeric(18458, 72, 2720)])) * 200

    def stream(factory: Callable[[], object], data: bytes, chunk: int) -> Callable[[], int]:
        def run() -> int:
            decoder = factory()
            n = 0
            for i in range(0, len(data), chunk):
                n += len(decoder.feed(data[i : i + chunk]))  # type: ignore[attr-defined]
            return n

        return run

    print(f"report APDU {len(report)} bytes; {seconds:.1f} s per case")
    measure("11073 decode_apdu (BP fixed scan report)", "APDUs", apdu_decode, seconds)
    measure("11073 PhdManager.handle -> 4 Observations", "APDUs", manager, seconds)
    measure("GATT 0x2A35 decode -> Observations", "values", gatt, seconds)
    measure("serial Masimo ASCII-1 (64-byte chunks)", "frames", stream(MasimoDecoder, masimo, 64), seconds)
    measure("serial A&D weight (64-byte chunks)", "frames", stream(AndWeightDecoder, and_lines, 64), seconds)
    measure("serial IntelliVue C0..C1 (64-byte chunks)", "frames", stream(IntelliVueDecoder, frames, 64), seconds)


if __name__ == "__main__":
    main()

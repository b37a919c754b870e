"""Throughput of the mapping engine on the shipped specs (compile once, apply many).

    /tmp/venv/bin/python bench/bench_mappings.py [N]

Prints records per second for each spec, with and without target-schema validation cost separated
(FHIR validation through fhir.resources dominates observation_to_fhir_r4b).
"""

from __future__ import annotations

import sys
import time
from datetime import date, datetime

from renkei.mappings import load_mapping
from renkei.records import Coding, Observation, Patient


def _rate(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - start)


def main(n: int) -> None:
    patients = [
        Patient(
            patient_id=f"{i:010d}",
            name_kanji="患者 太郎",
            name_kana="カンジャ タロウ",
            birth_date=date(1930 + i % 80, 1 + i % 12, 1 + i % 28),
            sex="MF"[i % 2],
            postcode="422-8033",
            address="静岡県静岡市登呂１−３−５　" * (1 + i % 4),
        ).to_dict()
        for i in range(256)
    ]
    obs = [
        Observation(
            patient_id=f"{i:010d}",
            code=Coding(code, "x", "JC10"),
            value=str(100 + i % 50),
            unit=unit,
            effective=datetime(2024, 5, 1, 9, i % 60),
            result_status="F",
        ).to_dict()
        for i in range(256)
        for code, unit in [("9A751000000000001", "mmHg"), ("3D010000001926101", "mmol/L")]
    ]
    t0 = time.perf_counter()
    specs = {
        name: load_mapping(name) for name in ("patient_to_sns_profile", "lab_to_sns_vitals", "observation_to_fhir_r4b")
    }
    print(f"compile 3 specs: {(time.perf_counter() - t0) * 1000:.0f} ms (once per process)")
    ctx = {"at": "2024-04-01"}
    rows = {
        "patient_to_sns_profile": lambda i: specs["patient_to_sns_profile"].apply(patients[i % 256], ctx),
        "lab_to_sns_vitals (2 obs/post)": lambda i: specs["lab_to_sns_vitals"].apply(
            obs[2 * (i % 256) : 2 * (i % 256) + 2]
        ),
        "observation_to_fhir_r4b": lambda i: specs["observation_to_fhir_r4b"].apply(obs[i % 512]),
    }
    for name, fn in rows.items():
        print(f"{name:<34} {_rate(fn, n):>9,.0f} inputs/s")
    m = specs["observation_to_fhir_r4b"]
    check, m._target_check = m._target_check, None  # the same spec without the fhir.resources validation
    print(f"{'observation_to_fhir_r4b (no valid.)':<34} {_rate(lambda i: m.apply(obs[i % 512]), n):>9,.0f} inputs/s")
    m._target_check = check


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)

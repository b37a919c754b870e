"""Throughput of canonical -> JP Core FHIR conversion, and of the checks behind every delivery.

    /tmp/venv/bin/python bench/bench_fhir_convert.py [N] [--medplum]

Prints resources per second with the validation cost beside it: conversion alone, each check alone
(fhir.resources R4B structure, code checks, JP Core rule table) in microseconds per resource, and the
checked path the `fhir` destination runs (convert + every check + the grouped resources: lab reports, ECG),
then the share of that path the validation takes. Two mixes: synthetic records (one patient, ten lab
results of one order, one condition, one prescription per patient) and a generated SS-MIX2 storage with
every data type (`generate_full`), file by file as the destination gets them.
With --medplum it also delivers 20 patients (one payload each, split into transactions of 8 entries) to
the test FHIR server through the `fhir` destination, first time and replay. That figure measures the test
server more than renkei: its MemoryRepository answers each conditional update by a linear FHIRPath scan.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta

from renkei.connectors.fhir import JPCoreConverter, check_resource, transaction_bundle
from renkei.connectors.fhir._checks import check_codes
from renkei.connectors.fhir._rules import profile_problems
from renkei.connectors.fhir.validate import structure_problems
from renkei.records import Coding, Condition, Medication, Observation, Patient, Record

LABS = [
    ("3A010000002327101", "総蛋白", "g/dl"),
    ("3A015000002327101", "アルブミン", "g/dl"),
    ("3D010000001926101", "グルコース", "mg/dl"),
    ("3B035000002327201", "AST", "U/L"),
    ("3B045000002327201", "ALT", "U/L"),
    ("3C015000002327101", "クレアチニン", "mg/dl"),
    ("3F015000002327101", "HDLコレステロール", "mg/dl"),
    ("2A990000001930952", "白血球数", "x10^3/uL"),
    ("2A030000001930101", "ヘモグロビン", "g/dl"),
    ("3H010000002327101", "ナトリウム", "mmol/l"),
]


def records(n_patients: int) -> list[Record]:
    out: list[Record] = []
    t0 = datetime(2024, 4, 1, 9, 0)
    for i in range(n_patients):
        pid = f"{1000000 + i:010d}"
        out.append(
            Patient(
                patient_id=pid,
                record_key=f"{pid}/ADT-00/@-/patient",
                name_kanji="患者 太郎",
                name_kana="カンジャ タロウ",
                birth_date=date(1930 + i % 60, 1 + i % 12, 1 + i % 28),
                sex="MF"[i % 2],
                postcode="422-8033",
                address="静岡県静岡市登呂１−３−５",
            )
        )
        for j, (code, name, unit) in enumerate(LABS):
            out.append(
                Observation(
                    patient_id=pid,
                    record_key=f"{pid}/OML-11/{i:015d}/{code}",
                    code=Coding(code, name, "JC10"),
                    value=f"{(i * 7 + j) % 90 / 10 + 1:.1f}",
                    unit=unit,
                    reference_range="1.0-9.0",
                    abnormal_flag="N",
                    effective=t0 + timedelta(minutes=i),
                    result_status="F",
                    order_no=f"{i:015d}",
                )
            )
        out.append(
            Condition(
                patient_id=pid,
                record_key=f"{pid}/PPR-01/{i:015d}/20054174",
                code=Coding("20054174", "胃炎", "MDCDX2"),
                icd10="K297",
                onset=date(2024, 3, 1),
            )
        )
        out.append(
            Medication(
                patient_id=pid,
                record_key=f"{pid}/OMP-01/{i:015d}/108665201",
                activity="prescription",
                drug=Coding("108665201", "ダーゼン錠（５mg)", "HOT9"),
                dose="1",
                dose_unit="TAB",
                dose_unit_system="MR9P",
                route="PO",
                timing="１日３回朝昼夕食後",
                usage=Coding("1013044400000000", "１日３回朝昼夕食後", "JAMISDP01"),
                supply_days="14",
                start=t0,
                authored_at=t0,
                rp_number="1",
                order_in_rp=1,
            )
        )
    return out


def rate(label: str, n: int, fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    per_s = n / (time.perf_counter() - start)
    print(f"{label:<52} {per_s:>10,.0f} per s")
    return per_s


def _seconds(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best of `repeat` runs (the machine is shared: the minimum is the least disturbed)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def report(title: str, conv: JPCoreConverter, batches: list[list[Record]]) -> None:
    """resources/s of conversion and of the checked path, and what each check costs per resource."""
    resources = [conv.convert(r) for batch in batches for r in batch if r.kind.value != "note"]
    checked = [res for batch in batches for res in conv.convert_partitioned(batch)[0]]
    n = len(resources)
    convert = _seconds(lambda: [conv.convert(r) for b in batches for r in b if r.kind.value != "note"])
    checks = {
        "R4B structure": _seconds(lambda: [structure_problems(r) for r in resources]),
        "code checks": _seconds(lambda: [check_codes(r) for r in resources]),
        "JP Core rule table": _seconds(lambda: [profile_problems(r) for r in resources]),
    }
    path = _seconds(lambda: [conv.convert_partitioned([r for r in b if r.kind.value != "note"]) for b in batches])
    validation = sum(checks.values())
    print(f"\n{title}: {n} resources from {sum(map(len, batches))} records ({len(checked)} after grouping)")
    print(f"  {'convert':<34} {n / convert:>10,.0f} resources/s  {convert / n * 1e6:>7.1f} us/resource")
    for name, sec in checks.items():
        print(f"  {'  check: ' + name:<34} {n / sec:>10,.0f} resources/s  {sec / n * 1e6:>7.1f} us/resource")
    print(f"  {'convert + checks + grouping':<34} {len(checked) / path:>10,.0f} resources/s  "
          f"{path / len(checked) * 1e6:>7.1f} us/resource")  # fmt: skip
    print(f"  validation cost: {validation / n * 1e6:.1f} us/resource, {validation / path:.0%} of the checked path")


def main(n_patients: int) -> None:
    import tempfile

    from renkei.connectors.ssmix2.generator import generate_full

    recs = records(n_patients)
    conv = JPCoreConverter("1311234567", source_system="ssmix2")
    resources = [conv.convert(r) for r in recs]  # warm-up: model classes load lazily
    check_resource(resources[0])
    per_patient = [recs[i : i + 13] for i in range(0, len(recs), 13)]
    report(f"synthetic mix ({n_patients} patients x 13 records)", conv, per_patient)
    by_patient = [resources[i : i + 13] for i in range(0, len(resources), 13)]
    rate(
        "\ntransaction bundles (13 entries each), resources",
        len(resources),
        lambda: [transaction_bundle(group, conv.facility_system, conv.patient_stub) for group in by_patient],
    )
    with tempfile.TemporaryDirectory() as tmp:
        written = generate_full(tmp, patients=max(2, n_patients // 40), seed=1, conditions=True, extended=True)
    for version in ("1.1.2", "1.2.0"):
        conv = JPCoreConverter("1311234567", "ssmix2", jp_core_version=version)
        report(f"every SS-MIX2 data type, JP Core {version}", conv, [w.records for w in written])


def deliver(recs: list[Record]) -> None:
    import importlib.util
    from pathlib import Path

    from renkei.connectors.fhir import FhirDestination

    path = Path(__file__).resolve().parents[1] / "tests" / "support" / "medplum" / "harness.py"
    spec = importlib.util.spec_from_file_location("renkei_bench_medplum", path)
    assert spec is not None and spec.loader is not None
    harness = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = harness
    spec.loader.exec_module(harness)
    payloads = [{"records": [r.to_dict() for r in recs[i : i + 13]]} for i in range(0, len(recs), 13)]
    with harness.start_medplum() as server:
        dest = FhirDestination(
            "bench",
            FhirDestination.Settings(base_url=server.base_url, facility_code="1311234567", max_bundle_entries=8),
        )
        for label in ("deliver to Medplum (first time)", "deliver to Medplum (replay, conditional updates)"):
            rate(label, len(recs), lambda: [dest.deliver(p, str(i)) for i, p in enumerate(payloads)])
        dest.close()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 400)
    if "--medplum" in sys.argv:
        deliver(records(20))

"""SS-MIX2 batch sync: the whole `renkei run --once` process beside a bare single-core parse loop.

    python bench/bench_sync.py [--patients 1500] [--labs 4] [--rounds 3] [--nho-copies 0] [--rescan]

The storage is made fresh for the run: by default renkei's generator (`--patients`, `--labs`); with
`--nho-copies N`, N copies of the shared NHO sample's patient folder (a storage renkei's writer did not
write, with its real-world defects; the patient id is changed in each copy's path and messages). The
baseline reads each file, decodes its ISO-2022-JP and runs python-hl7's `hl7.parse`, in this process,
one core, nothing stored, start-up not counted. The sync is the whole `renkei run CONFIG --once`
process, start-up included, on a fresh copy of a data folder where the patients' consent is already
recorded (the consent gate stays on): store RECEIVED (fsync), parse, render, queue, gate, post to the
built-in timeline, record SENT. The two alternate, round after round, so both see the same machine
load; the ratio sync/baseline is printed per round and for the best of each (target >= 1.5 on 2 cores).
`--rescan` then times a second `renkei run --once` over the unchanged storage (target <= 5 s at 100,000
files, e.g. --patients 20000).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import hl7

from renkei.connectors.ssmix2 import scan

CONFIG = """
version: 1
connectors:
  ehr: {type: ssmix2, root: storage}
  timeline: {type: builtin, members: [nurse.sato, dr.tanaka]}
pipelines:
  - name: nightly
    source: ehr
    destinations: [timeline]
"""
NHO = Path(os.environ.get("RENKEI_NHO_SAMPLE", "/work/shared/conformance/ssmix2-nho/storage"))
NHO_PATIENT = "9999013"


def nho_storage(root: Path, copies: int) -> int:
    """`copies` copies of the NHO sample's patient folder, each as another 7-digit patient id."""
    n = 0
    src = NHO / NHO_PATIENT[:3] / NHO_PATIENT[3:6] / NHO_PATIENT
    for i in range(copies):
        pid = f"{1000000 + i:07d}"
        for path in src.rglob("*"):
            if not path.is_file():
                continue
            rel = str(path.relative_to(src)).replace(NHO_PATIENT, pid)
            dest = root / pid[:3] / pid[3:6] / pid / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes().replace(NHO_PATIENT.encode(), pid.encode()))
            n += 1
    return n


def bare_parse_loop(root: Path) -> tuple[int, float]:
    global _bare_cpu
    cpu = time.process_time()
    started = time.perf_counter()
    n = 0
    for item in scan(root):
        with open(os.path.join(root, item.key), "rb") as fh:
            text = fh.read().decode("iso2022_jp")
        with contextlib.suppress(Exception):  # a defective sample file: the loop goes on, as renkei does
            hl7.parse(text)
        n += 1
    _bare_cpu = time.process_time() - cpu
    return n, time.perf_counter() - started


_bare_cpu = 0.0  # CPU seconds of the last bare loop


def _children_cpu() -> float:
    """CPU seconds of every finished child process and its own children (the run and its pool)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def seed_data(work: Path) -> Path:
    """A data folder with every patient's consent recorded (copied fresh for each timed run)."""
    from renkei.config.loader import load_config
    from renkei.pipelines.engine import Engine
    from renkei.pipelines.registry import PatientRegistry
    from renkei.pipelines.store import Store

    seed = work / "seed"
    engine = Engine(load_config(work / "renkei.yaml"), Store.in_data_dir(seed), seed)
    registry = PatientRegistry(engine.store)
    for person in sorted({item.group.rsplit("/", 1)[-1] for item in scan(work / "storage")}):
        registry.set_consent(person, True, ["all"], date(2026, 4, 1))
    engine.close()
    engine.store.close()
    return seed


def run_once(work: Path, data: Path, processes: int = 0) -> tuple[dict[str, int], float]:
    """The whole `renkei run --once` process; its wall time, start-up included."""
    env = {k: v for k, v in os.environ.items() if k not in ("RENKEI_STORE_URL", "RENKEI_DATA", "RENKEI_PROCESSES")}
    if processes:
        env["RENKEI_PROCESSES"] = str(processes)
    cmd = [sys.executable, "-c", "from renkei.bin.cli import main; main()", "run", str(work / "renkei.yaml"),
           "--once", "--data", str(data), "--json"]  # fmt: skip
    global _run_cpu
    cpu = _children_cpu()
    started = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    _run_cpu = _children_cpu() - cpu
    return json.loads(out.stdout)["nightly"], elapsed


_run_cpu = 0.0  # CPU seconds of the last run, its pool processes included


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=1500)
    ap.add_argument("--labs", type=int, default=4)
    ap.add_argument("--nho-copies", type=int, default=0, help="use N copies of the NHO sample instead")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--one-process", action="store_true", help="also time each round with RENKEI_PROCESSES=1")
    ap.add_argument("--rescan", action="store_true", help="also time a rescan of the unchanged storage")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="renkei-bench-sync-") as tmp:
        work = Path(tmp)
        if args.nho_copies:
            files = nho_storage(work / "storage", args.nho_copies)
            what = f"{args.nho_copies} copies of the NHO sample's patient folder"
        else:
            from renkei.connectors.ssmix2.generator import generate

            files = len(generate(work / "storage", patients=args.patients, labs_per_patient=args.labs, seed=1))
            what = f"generated, {args.patients} patients"
        (work / "renkei.yaml").write_text(CONFIG, encoding="utf-8")
        seed = seed_data(work)
        print(f"storage: {files} files ({what}); {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f} at start")
        bares, syncs, singles, stats = [], [], [], {}
        for r in range(args.rounds):
            bares.append(bare_parse_loop(work / "storage")[1])
            bare_cpu = _bare_cpu
            if args.one_process:
                shutil.copytree(seed, work / "single")
                singles.append(run_once(work, work / "single", processes=1)[1])
                shutil.rmtree(work / "single")
                print(f"  round {r + 1}: renkei run --once with RENKEI_PROCESSES=1: {files / singles[-1]:6.0f} files/s "
                      f"({_run_cpu / files * 1e3:.2f} ms CPU per file)")  # fmt: skip
            data = work / f"data{r}"
            shutil.copytree(seed, data)
            stats, seconds = run_once(work, data)
            syncs.append(seconds)
            print(f"  round {r + 1}: bare {files / bares[-1]:6.0f} files/s, renkei run --once {files / seconds:6.0f} "
                  f"files/s, ratio {bares[-1] / seconds:.2f}  (load {os.getloadavg()[0]:.1f})")  # fmt: skip
            print(f"           CPU per file: bare {bare_cpu / files * 1e3:.2f} ms, renkei run --once "
                  f"{_run_cpu / files * 1e3:.2f} ms (all its processes, start-up included)")  # fmt: skip
            if r < args.rounds - 1:
                shutil.rmtree(data)
        outcome = {k: stats[k] for k in ("received", "queued", "filtered", "quarantined", "sent", "dead")}
        print(f"last run's outcome: {outcome}")
        bare, best = min(bares), min(syncs)
        ratios = [b / s for b, s in zip(bares, syncs, strict=True)]
        print(f"bare read+decode+hl7.parse loop (one core, best) : {files / bare:8.0f} files/s")
        print(f"renkei run --once, whole process (best)         : {files / best:8.0f} files/s")
        print(f"ratio run/bare: best/best {bare / best:.2f}, median of rounds {statistics.median(ratios):.2f} "
              f"(target >= 1.5)")  # fmt: skip
        if singles:
            print(f"renkei run --once, one process (best)           : {files / min(singles):8.0f} files/s "
                  f"(ratio {bare / min(singles):.2f})")  # fmt: skip
        if args.rescan:
            _stats, seconds = run_once(work, data)
            print(f"rescan of {files} unchanged files (whole process): {seconds:.2f} s")


if __name__ == "__main__":
    main()

"""SS-MIX2 batch sync end to end (files -> durable store -> built-in timeline) beside a bare parse loop.

    python bench/bench_sync.py [--patients 1000] [--labs 4] [--rounds 2] [--rescan]

All run in this process over the same generated storage. The baseline reads each file, decodes its
ISO-2022-JP and runs python-hl7's `hl7.parse` (single core, nothing stored); hl7apy's parse_message runs
on a subset; the sync is `renkei run --once` on a fresh data folder (store RECEIVED with fsync, parse,
render, queue, gate, post, record SENT). Prints files/s for each and the ratio sync/baseline (the target
is >= 1.0). `--rescan` then runs the pipeline again over the unchanged storage and prints its seconds
(target <= 5 s at 100,000 files, e.g. --patients 20000 --labs 4) and the peak of Python memory
allocated during that rescan.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

import hl7

from renkei.config.loader import load_config
from renkei.connectors.ssmix2 import scan
from renkei.connectors.ssmix2.generator import generate
from renkei.pipelines.engine import Engine
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.store import Store

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


def bare_parse_loop(root: Path) -> tuple[int, float]:
    started = time.perf_counter()
    n = 0
    for item in scan(root):
        with open(os.path.join(root, item.key), "rb") as fh:
            text = fh.read().decode("iso2022_jp")
        hl7.parse(text)
        n += 1
    return n, time.perf_counter() - started


def hl7apy_loop(root: Path, limit: int) -> tuple[int, float]:
    """hl7apy's parse_message over the first `limit` files (it is too slow for all of them)."""
    from hl7apy.parser import parse_message

    started = time.perf_counter()
    n = 0
    for item in scan(root):
        with open(os.path.join(root, item.key), "rb") as fh:
            text = fh.read().decode("iso2022_jp")
        parse_message(text, find_groups=False)
        n += 1
        if n >= limit:
            break
    return n, time.perf_counter() - started


def sync(workdir: Path, fresh: bool = True) -> tuple[int, float]:
    data = workdir / "data"
    if fresh:
        shutil.rmtree(data, ignore_errors=True)
    engine = Engine(load_config(workdir / "renkei.yaml"), Store.in_data_dir(data), data)
    registry = PatientRegistry(engine.store)  # the patients consented (the gate stays on, as in production)
    for item in scan(workdir / "storage"):
        person = item.group.rsplit("/", 1)[-1]
        if registry.consent(person) is None:
            registry.set_consent(person, True, ["all"], date(2026, 4, 1))
    try:
        started = time.perf_counter()
        stats = engine.run_pipeline(engine.pipeline("nightly"))
        elapsed = time.perf_counter() - started
    finally:
        engine.close()
        engine.store.close()
    assert stats.sent == stats.received, stats
    return stats.unchanged if not fresh else stats.sent, elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--labs", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--hl7apy-files", type=int, default=300, help="hl7apy is slow: time it on this many files")
    ap.add_argument("--rescan", action="store_true", help="also time a rescan of the unchanged storage")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = len(generate(work / "storage", patients=args.patients, labs_per_patient=args.labs, seed=1))
        (work / "renkei.yaml").write_text(CONFIG, encoding="utf-8")
        print(f"storage: {files} files ({args.patients} patients), {args.rounds} rounds, best of each")
        bare = min(bare_parse_loop(work / "storage")[1] for _ in range(args.rounds))
        best = min(sync(work)[1] for _ in range(args.rounds))
        print(f"bare read+decode+hl7.parse loop : {files / bare:8.0f} files/s")
        print(f"end-to-end sync (store+timeline) : {files / best:8.0f} files/s")
        print(f"ratio sync / bare parse          : {bare / best:8.2f}")
        n_apy, t_apy = hl7apy_loop(work / "storage", args.hl7apy_files)
        apy = n_apy / t_apy
        print(f"hl7apy parse_message loop ({n_apy} files): {apy:6.0f} files/s (sync is {files / best / apy:.0f}x)")
        if args.rescan:
            unchanged, seconds = sync(work, fresh=False)
            tracemalloc.start()  # a second rescan, traced: tracing slows it, so it is not the one timed
            sync(work, fresh=False)
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            print(f"rescan of {unchanged} unchanged files: {seconds:.2f} s (peak Python allocations {peak:.1f} MiB)")


if __name__ == "__main__":
    main()

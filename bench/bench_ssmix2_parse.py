"""SS-MIX2 parse rate: bare python-hl7, hl7apy and renkei's parse_file over one generated storage.

    python bench/bench_ssmix2_parse.py [--patients 2000] [--labs 4] [--hl7apy-files 500] [--scan-files 100000]

Each loop does the same work up to its parser: read the file, decode ISO-2022-JP, parse. renkei's
loop goes on to build the canonical records (and run the structural checks), so its figure is the
whole per-file cost the sync pays before storing. The scan figure is a rescan of an unchanged storage
(the engine's incremental run skips every file whose fingerprint it already has).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import hl7
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from renkei.connectors.ssmix2 import parse_file, scan
from renkei.connectors.ssmix2.generator import generate


def _rate(label: str, n: int, seconds: float) -> float:
    rate = n / seconds
    print(f"  {label:<34} {n:>7} files {seconds:8.2f} s {rate:>10,.0f} files/s")
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--labs", type=int, default=4, help="OML-11 files per patient")
    ap.add_argument("--hl7apy-files", type=int, default=500, help="hl7apy is slow: time it on this many files")
    ap.add_argument(
        "--scan-files", type=int, default=100_000, help="size of the storage for the rescan figure (0: skip)"
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="renkei-bench-") as tmp:
        root = Path(tmp) / "storage"
        t = time.perf_counter()
        written = generate(root, patients=args.patients, labs_per_patient=args.labs, seed=args.seed)
        print(f"generated {len(written)} files for {args.patients} patients in {time.perf_counter() - t:.1f} s")
        keys = [w.key for w in written]
        paths = [os.path.join(root, k) for k in keys]
        for p in paths:  # warm the page cache so every loop reads from memory alike
            with open(p, "rb") as fh:
                fh.read()

        print("read + decode + parse, per file:")
        t = time.perf_counter()
        for p in paths:
            with open(p, "rb") as fh:
                hl7.parse(fh.read().decode("iso2022_jp"))
        bare = _rate("bare hl7.parse (python-hl7)", len(paths), time.perf_counter() - t)

        sub = paths[: args.hl7apy_files]
        t = time.perf_counter()
        for p in sub:
            with open(p, "rb") as fh:
                parse_message(fh.read().decode("iso2022_jp"), validation_level=VALIDATION_LEVEL.TOLERANT)
        apy = _rate("hl7apy parse_message", len(sub), time.perf_counter() - t)

        t = time.perf_counter()
        records = 0
        for k, p in zip(keys, paths, strict=True):
            with open(p, "rb") as fh:
                records += len(parse_file(k, fh.read()).records)
        ours = _rate("renkei parse_file -> records", len(paths), time.perf_counter() - t)
        print(f"  ({records} records)")
        print(f"ratios: renkei/python-hl7 = {ours / bare:.2f}x, renkei/hl7apy = {ours / apy:.1f}x, "
              f"python-hl7/hl7apy = {bare / apy:.1f}x")  # fmt: skip

    if args.scan_files:
        labs = 9
        with tempfile.TemporaryDirectory(prefix="renkei-bench-scan-") as tmp:
            t = time.perf_counter()
            written = generate(tmp, patients=max(1, args.scan_files // (1 + labs)), labs_per_patient=labs)
            print(f"scan: generated {len(written)} files in {time.perf_counter() - t:.1f} s")
            for attempt in ("first", "unchanged rescan"):
                t = time.perf_counter()
                n = sum(1 for _ in scan(tmp))
                print(f"  {attempt:<18} {n} files in {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()

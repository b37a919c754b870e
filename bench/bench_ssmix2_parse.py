"""SS-MIX2 parse rate: bare python-hl7, hl7apy and renkei's parse_file over one generated storage.

    python bench/bench_ssmix2_parse.py [--patients 2000] [--storage full|labs] [--labs 2]
                                       [--hl7apy-files 500] [--scan-files 100000]

`--storage full` (default) is generate_full: all 26 standard data types, update/delete histories and
the extended storage (ORU^R30 vitals, CDA and PDF documents); `labs` is the older ADT-00 + OML-11 mix.
Each loop does the same work up to its parser: read the file, decode ISO-2022-JP, parse. The HL7
loops run over the HL7 files only (python-hl7 and hl7apy cannot read CDA or PDF); renkei's loop goes on
to build the canonical records (and run the structural checks), so its figure is the whole per-file
cost the sync pays before storing. Documents are timed apart. The scan figure is a rescan of an
unchanged storage (the engine's incremental run skips every file whose fingerprint it already has).
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
from renkei.connectors.ssmix2.generator import Written, generate, generate_full


def _rate(label: str, n: int, seconds: float) -> float:
    rate = n / seconds
    print(f"  {label:<34} {n:>7} files {seconds:8.2f} s {rate:>10,.0f} files/s")
    return rate


def _generate(storage: str, root: Path, patients: int, labs: int, seed: int) -> list[Written]:
    if storage == "labs":
        return generate(root, patients=patients, labs_per_patient=labs, seed=seed)
    return generate_full(root, patients, seed, labs_per_patient=labs, conditions=True, extended=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--storage", choices=("full", "labs"), default="full")
    ap.add_argument("--labs", type=int, default=2, help="OML-11 files per patient")
    ap.add_argument("--hl7apy-files", type=int, default=500, help="hl7apy is slow: time it on this many files")
    ap.add_argument(
        "--scan-files", type=int, default=100_000, help="size of the storage for the rescan figure (0: skip)"
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="renkei-bench-") as tmp:
        root = Path(tmp) / "storage"
        t = time.perf_counter()
        written = _generate(args.storage, root, args.patients, args.labs, args.seed)
        print(
            f"generated {len(written)} files ({args.storage}) for {args.patients} patients"
            f" in {time.perf_counter() - t:.1f} s; {len({w.key.split('/')[4] for w in written})} kinds of folder"
        )
        documents = [w.key for w in written if w.key.endswith((".xml", ".pdf"))]
        keys = [w.key for w in written if not w.key.endswith((".xml", ".pdf"))]
        paths = [os.path.join(root, k) for k in keys]
        for p in [*paths, *(os.path.join(root, k) for k in documents)]:  # warm the page cache alike
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
        if documents:
            t = time.perf_counter()
            for k in documents:
                with open(os.path.join(root, k), "rb") as fh:
                    parse_file(k, fh.read())
            _rate("renkei parse_file, CDA + PDF", len(documents), time.perf_counter() - t)
        print(f"ratios: renkei/python-hl7 = {ours / bare:.2f}x, renkei/hl7apy = {ours / apy:.1f}x, "
              f"python-hl7/hl7apy = {bare / apy:.1f}x")  # fmt: skip

    if args.scan_files:
        with tempfile.TemporaryDirectory(prefix="renkei-bench-scan-") as tmp:
            t = time.perf_counter()
            per_patient = len(_generate(args.storage, Path(tmp) / "probe", 20, args.labs, 1)) / 20
            patients = max(1, round(args.scan_files / per_patient))
            written = _generate(args.storage, Path(tmp) / "storage", patients, args.labs, args.seed)
            print(f"scan: generated {len(written)} files in {time.perf_counter() - t:.1f} s")
            for attempt in ("first", "unchanged rescan"):
                t = time.perf_counter()
                n = sum(1 for _ in scan(Path(tmp) / "storage"))
                print(f"  {attempt:<18} {n} files in {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()

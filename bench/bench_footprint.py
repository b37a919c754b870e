"""Data folder footprint of an SS-MIX2 sync, before and after retention pruning.

    python bench/bench_footprint.py [--patients 20000] [--labs 4] [--keep DIR]

Generates a storage (patients x (1 ADT + labs) files; 20,000 x 5 = 100,000), syncs it once into a fresh
data folder with the built-in timeline (as bench_sync.py), then prunes with the default retention taken
as expired (`older_than_days=0`, i.e. `renkei prune --older-than 0`). Prints the size of the raw files,
of every file in the data folder and of the biggest tables and indexes (SQLite's dbstat), before and
after, and the two ratios data folder / raw files (the target after pruning is <= 3).

Measured 2026-12-02 on the quiet 2-core machine, 100,000 files (119.2 MB): the sync took 146 s; after it
952 MB (7.98x; messages 587 MB: raw bytes plus parsed records, which are ~3x the raw; audit log 85;
deliveries 74; timeline.sqlite 67; the WAL 41, bounded by the durable writer's 10,000-page checkpoint),
after pruning 283 MB (2.37x; audit log 85, timeline posts 48, messages 23 and their source-key index 11,
source ledger 16 and its key index 11, deliveries 14, patients 10, idempotency 10). Prune + VACUUM took
103 s; a rescan afterwards read no file again.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from datetime import date
from pathlib import Path

from renkei.config.loader import load_config
from renkei.connectors.ssmix2 import scan
from renkei.connectors.ssmix2.generator import generate
from renkei.pipelines.engine import Engine
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.retention import prune
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

MB = 1e6


def folder_bytes(path: Path) -> dict[str, int]:
    return {str(p.relative_to(path)): p.stat().st_size for p in sorted(path.rglob("*")) if p.is_file()}


def biggest_objects(db: Path, top: int = 8) -> list[tuple[str, int]]:
    """Tables and indexes by bytes on disk (dbstat; needs SQLite built with it, as Debian's is)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    except sqlite3.OperationalError as exc:
        return [(f"(dbstat unavailable: {exc})", 0)]
    return rows[:top]


def report(label: str, data: Path, raw_bytes: int) -> float:
    files = folder_bytes(data)
    total = sum(files.values())
    print(f"\n== {label}: data folder {total / MB:.1f} MB = {total / raw_bytes:.2f} x the raw files")
    for name, size in sorted(files.items(), key=lambda kv: -kv[1]):
        if size >= 0.1 * MB:
            print(f"   {name:<28} {size / MB:9.1f} MB")
    for db in sorted(data.glob("*.sqlite")):
        if files.get(db.name, 0) >= 1 * MB:
            print(f"   inside {db.name}:")
            for name, size in biggest_objects(db):
                print(f"     {name:<32} {size / MB:9.1f} MB")
    return total / raw_bytes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=20000)
    ap.add_argument("--labs", type=int, default=4)
    ap.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it (default: a temp one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        written = generate(work / "storage", patients=args.patients, labs_per_patient=args.labs, seed=1)
        raw_bytes = sum(p.stat().st_size for p in (work / "storage").rglob("*") if p.is_file())
        print(f"storage: {len(written)} files, {raw_bytes / MB:.1f} MB ({time.perf_counter() - t:.0f} s to generate)")
        (work / "renkei.yaml").write_text(CONFIG, encoding="utf-8")
        data = work / "data"
        engine = Engine(load_config(work / "renkei.yaml"), Store.in_data_dir(data), data)
        try:
            registry = PatientRegistry(engine.store)
            for item in scan(work / "storage"):
                person = item.group.rsplit("/", 1)[-1]
                if registry.consent(person) is None:
                    registry.set_consent(person, True, ["all"], date(2026, 4, 1))
            t = time.perf_counter()
            stats = engine.run_pipeline(engine.pipeline("nightly"))
            print(f"sync: {stats.sent} sent of {stats.received} in {time.perf_counter() - t:.0f} s")
            before = report("after the sync", data, raw_bytes)
            result = prune(engine.store, {p.name: p.retention for p in engine.config.pipelines}, older_than_days=0)
            print(f"\nprune: {result.summary()}, VACUUM {result.vacuumed}, {result.seconds:.0f} s")
            after = report("after pruning (default retention expired)", data, raw_bytes)
            again = engine.run_pipeline(engine.pipeline("nightly"))
            print(f"\nrescan after pruning: {again.received} read again, {again.unchanged} unchanged")
        finally:
            engine.close()
            engine.store.close()
        print(f"\nratio data folder / raw files: before pruning {before:.2f}, after pruning {after:.2f}")


if __name__ == "__main__":
    main()

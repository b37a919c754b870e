"""The regional path: the same SS-MIX2 feed through `renkei run` + 1, 2 and 4 `renkei worker` processes on
PostgreSQL, beside the embedded default (`renkei run --once` on SQLite, in one process), in one run.

    python bench/bench_workers.py [--patients 200] [--files 100] [--workers 1,2,4] [--concurrency 2]
                                  [--round-trips-files 10]

The feed is a generated storage of patients × files (one ADT and lab results each; 200 × 100 = 20,000
messages), each lab result delivered to the built-in timeline and to a local webhook receiver
(tests/support/cluster.py). For each setup: a fresh database (or data folder), everything stored by the
scan at once (a backlog, as after an outage or a first sync), timed from the start of `renkei run` to the
last delivery confirmed. messages/s = messages / that time; the delay of a delivery = confirmed at (the
idempotency ledger) - stored at; p50/p99 over every delivery of the run. Under a backlog the delay is
mostly waiting in the queue, so it shows how fast a backlog clears, not an idle system's latency.

Round trips: a separate small run (1 worker) with PostgreSQL's `log_statement = all` on its database
counts the statements every process of the cluster sent (BEGIN and COMMIT included, the bench's own
progress queries excluded), per message stored.
Needs PostgreSQL (installed with apt by tests/support/postgres.py when missing, as root).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support import cluster  # noqa: E402
from support.postgres import start_postgres  # noqa: E402

from renkei.connectors.ssmix2.generator import generate  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int, children: bool = True) -> float:
    """CPU seconds of a live process (user + system), with its reaped children's when `children`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / TICK


def postgres_cpu(pg) -> float:
    """CPU seconds of the PostgreSQL server so far: the postmaster, its exited backends, the live ones."""
    postmaster = int((pg.workdir / "data" / "postmaster.pid").read_text().split()[0])
    total = _cpu(postmaster)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                total += _cpu(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
    return total


def _row(label: str, site: cluster.Site, seconds: float, cpu: dict[str, float] | None = None) -> dict[str, object]:
    outcome = cluster.Outcome.read(site)
    delays = sorted(outcome.delays)
    sent = outcome.delivery_states.get("SENT", 0)
    return {
        "setup": label,
        "messages": sum(outcome.states.values()),
        "deliveries": sent,
        "seconds": seconds,
        "msg_per_s": sum(outcome.states.values()) / seconds,
        "p50": delays[len(delays) // 2] if delays else float("nan"),
        "p99": cluster.p99(delays),
        "complete": sent == sum(outcome.delivery_states.values()),
        # CPU milliseconds per message: renkei's processes, and the PostgreSQL server
        **{f"cpu_ms_{k}": v * 1000 / max(1, sum(outcome.states.values())) for k, v in (cpu or {}).items()},
    }


def run_sqlite(work: Path, storage: Path, patients: int, files: int) -> dict[str, object]:
    workdir = work / "sqlite"
    workdir.mkdir()
    data = workdir / "data"
    site = cluster.make_site(workdir, f"sqlite:///{data / 'renkei.sqlite'}", patients, files, storage)
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = site.renkei("run", "--once", str(site.config))
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"renkei run --once failed: {done.stderr[-2000:]}")
        cpu = {"renkei": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime}
        return _row("SQLite, in-process (renkei run --once)", site, seconds, cpu)
    finally:
        site.receiver.close()


def run_cluster(pg, work: Path, storage: Path, patients: int, files: int, workers: int, concurrency: int,
                db: str) -> tuple[dict[str, object], cluster.Site]:  # fmt: skip
    workdir = work / db
    workdir.mkdir()
    site = cluster.make_site(workdir, pg.create_database(db), patients, files, storage)
    try:
        upgraded = site.renkei("db", "upgrade")
        if upgraded.returncode != 0:
            raise SystemExit(f"renkei db upgrade failed: {upgraded.stderr[-2000:]}")
        for i in range(workers):
            site.start_worker(f"w{i + 1}", concurrency)
        time.sleep(3)  # workers started (their start-up is not the feed's time)
        cpu0 = {name: _cpu(proc.pid) for name, proc in site.processes.items()}
        pg0 = postgres_cpu(pg)
        started = time.perf_counter()
        site.start("run", "run", str(site.config))
        if not cluster.wait_until(lambda: cluster.settled(site.store_url, site.messages), 3600, every=0.5):
            raise SystemExit(f"{db}: not settled in an hour: {cluster.progress(site.store_url)}")
        seconds = time.perf_counter() - started
        used = {name: _cpu(proc.pid) - cpu0.get(name, 0.0) for name, proc in site.processes.items()}
        cpu = {
            "workers": sum(v for k, v in used.items() if k != "run"),
            "run": used["run"],
            "postgres": postgres_cpu(pg) - pg0,
        }
    finally:
        site.stop_all()
        site.receiver.close()
    label = f"PostgreSQL, {workers} worker{'s' if workers > 1 else ''} × {concurrency}"
    return _row(label, site, seconds, cpu), site


def trickle(pg, work: Path, workers: int, concurrency: int, rate: float, seconds: float) -> dict[str, float]:
    """Latency when not behind: files arrive `rate` per second for `seconds` (moved into the storage one by
    one) while the cluster runs; the delay of each of their deliveries, from stored to confirmed (the
    scan's period, up to 5 s before a file is stored, comes on top)."""
    storage, staging = work / "trickle-storage", work / "trickle-staging"
    generate(storage, patients=20, labs_per_patient=1)
    generate(staging, patients=20, labs_per_patient=int(rate * seconds / 20), seed=1)
    incoming = sorted(p for p in staging.rglob("*") if p.is_file())
    workdir = work / "trickle"
    workdir.mkdir()
    site = cluster.make_site(workdir, pg.create_database("bench_trickle"), 20, 2, storage)
    try:
        site.renkei("db", "upgrade")
        for i in range(workers):
            site.start_worker(f"w{i + 1}", concurrency)
        site.start("run", "run", str(site.config))
        if not cluster.wait_until(lambda: cluster.settled(site.store_url, 40), 600, every=0.5):
            raise SystemExit("trickle: the first 40 messages did not settle")
        started = time.time()
        for n, path in enumerate(incoming, 1):
            target = storage / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)
            time.sleep(max(0.0, started + n / rate - time.time()))
        if not cluster.wait_until(lambda: cluster.settled(site.store_url, 40 + len(incoming)), 600, every=0.5):
            raise SystemExit(f"trickle: not settled: {cluster.progress(site.store_url)}")
    finally:
        site.stop_all()
        site.receiver.close()
    delays = sorted(cluster.delays_since(site.store_url, started))
    return {"messages": len(incoming), "deliveries": len(delays), "p50": delays[len(delays) // 2],
            "p99": cluster.p99(delays), "max": delays[-1]}  # fmt: skip


def round_trips(pg, work: Path, patients: int, files: int, concurrency: int) -> tuple[float, float, int]:
    storage = work / "rt-storage"
    generate(storage, patients=patients, labs_per_patient=files - 1)
    pg.psql("ALTER SYSTEM SET log_line_prefix = '%d %p '")
    pg.psql("ALTER SYSTEM SET log_statement = 'all'")  # only this run is on the server now
    pg.psql("SELECT pg_reload_conf()")
    log = pg.workdir / "server.log"
    before = log.stat().st_size
    try:
        run_cluster(pg, work, storage, patients, files, 1, concurrency, "bench_rt")
    finally:
        pg.psql("ALTER SYSTEM RESET log_statement")
        pg.psql("SELECT pg_reload_conf()")
    text = log.read_text(errors="replace")[before:]
    pattern = re.compile(r"^bench_rt (\d+) .*LOG:  (?:statement|execute [^:]*): (.*)$")
    matched = [m for m in map(pattern.match, text.splitlines()) if m]
    # the bench's own progress queries: every statement of a connection that ever counted rows
    pollers = {m.group(1) for m in matched if "count(*)" in m.group(2)}
    ours = [(m.group(1), m.group(2)) for m in matched if m.group(1) not in pollers]
    # psycopg sends an executemany's rows in one pipeline: PostgreSQL logs each row, the network sees one
    # exchange. So consecutive statements of one shape on one connection count as one round trip.
    trips, last = 0, {}
    for pid, statement in ours:
        shape = _shape(statement)
        trips += last.get(pid) != shape
        last[pid] = shape
    shapes = Counter(_shape(s) for _, s in ours)
    print(f"statements of the round-trip run ({len(ours)}; {trips} round trips), by shape:")
    for shape, n in shapes.most_common(25):
        print(f"  {n:>6}  {shape}")
    messages = patients * files
    return len(ours) / messages, trips / messages, trips


def _shape(statement: str) -> str:
    """A statement without its values, cut short: what kind of round trip it is."""
    return re.sub(r"\$\d+|'[^']*'|\b\d+\b", "?", statement)[:110]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=200)
    ap.add_argument("--files", type=int, default=100, help="files per patient (1 ADT + lab results)")
    ap.add_argument("--workers", default="1,2,4", help="worker counts to run ('' for the round trips only)")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--trickle", type=float, default=2.0, help="files per second of the latency run (0: none)")
    ap.add_argument("--round-trips-files", type=int, default=10, help="files per patient of the round-trip run")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="renkei-bench-workers-") as tmp, start_postgres() as pg:
        work = Path(tmp)
        storage = work / "storage"
        generate(storage, patients=args.patients, labs_per_patient=args.files - 1)
        messages = args.patients * args.files
        print(f"feed: {args.patients} patients × {args.files} files = {messages} messages", flush=True)
        if args.workers:
            rows.append(run_sqlite(work, storage, args.patients, args.files))
            print(rows[-1], flush=True)
        for n in (int(x) for x in args.workers.split(",") if x):
            row, _ = run_cluster(pg, work, storage, args.patients, args.files, n, args.concurrency, f"bench_w{n}")
            rows.append(row)
            print(row, flush=True)
        latency = trickle(pg, work, 2, args.concurrency, args.trickle, 60) if args.trickle else None
        statements, per_message, total = round_trips(pg, work, args.patients, args.round_trips_files, args.concurrency)
    print()
    print(f"{'setup':<40} {'messages':>8} {'deliveries':>10} {'seconds':>8} {'msg/s':>7} {'p50 s':>7} {'p99 s':>7}"
          "   CPU ms/message")  # fmt: skip
    for r in rows:
        cpu = ", ".join(f"{k[7:]} {v:.1f}" for k, v in r.items() if k.startswith("cpu_ms_"))
        print(f"{r['setup']:<40} {r['messages']:>8} {r['deliveries']:>10} {r['seconds']:>8.1f} {r['msg_per_s']:>7.1f} "
              f"{r['p50']:>7.1f} {r['p99']:>7.1f}   {cpu}{'' if r['complete'] else '  (INCOMPLETE)'}")  # fmt: skip
    if latency:
        print(f"\nlatency, 2 workers × {args.concurrency}, {args.trickle:g} files/s for 60 s ({latency['messages']} "
              f"messages, {latency['deliveries']} deliveries): stored -> confirmed p50 {latency['p50']:.2f} s, "
              f"p99 {latency['p99']:.2f} s, max {latency['max']:.2f} s")  # fmt: skip
    print(
        f"\nper message, whole cluster, 1 worker: {statements:.1f} statements, {per_message:.1f} round trips "
        f"({total} round trips for {args.patients * args.round_trips_files} messages)"
    )


if __name__ == "__main__":
    main()

"""Where a region's PostgreSQL becomes the limit: the audit chain's one head, measured alone.

    python bench/bench_audit_chain.py [--seconds 10] [--clients 1,2,4,8] [--entries 4]

Every hot-path transaction of the cluster ends by appending to the audit hash chain under `LOCK TABLE
audit_log IN EXCLUSIVE MODE`, held until its commit (pipelines/audit.py), so those transactions run one at
a time however many workers there are. This bench runs only that section: each client process repeats a
transaction shaped like a worker's (the store's hot-path writer, `--entries` audit entries appended last,
committed), for `--seconds`, with 1, 2, 4 … clients in one run. It prints transactions/s and how long each
held the chain (from the append to the commit returned, lock wait excluded with one client). With
bench_workers.py's appends per message (its round-trip run counts `LOCK TABLE audit_log`), the chain's
ceiling in messages/s is (1 / hold) / appends per message.

On a 2-core machine the clients and PostgreSQL share the cores, so the many-client rows show the chain
under CPU contention; the one-client hold time is the figure to size from. Needs PostgreSQL (started by
tests/support/postgres.py, as bench_workers.py does).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.postgres import start_postgres  # noqa: E402


def client(url: str, seconds: float, entries: int, start: float, out: multiprocessing.Queue) -> None:
    from renkei.pipelines import audit
    from renkei.pipelines.audit import AuditEntry
    from renkei.pipelines.store import Store

    store = Store(url)
    holds: list[float] = []
    n = 0
    while time.time() < start:
        time.sleep(0.001)
    end = start + seconds
    while time.time() < end:
        with store.write(redoable=True, serialised=False) as conn:  # the hot path's writer
            held_from = time.perf_counter()
            audit.append(conn, [AuditEntry("delivery.sent", "", f"delivery:{os.getpid()}-{n}-{i}", "bench")
                                for i in range(entries)])  # fmt: skip
        holds.append(time.perf_counter() - held_from)
        n += 1
    store.close()
    out.put((n, holds))


def run(url: str, clients: int, seconds: float, entries: int) -> tuple[float, list[float]]:
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()
    start = time.time() + 3.0  # every client connected before the clock starts
    procs = [ctx.Process(target=client, args=(url, seconds, entries, start, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    done = sum(n for n, _ in results)
    return done / seconds, [h for _, hs in results for h in hs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", default="1,2,4,8")
    ap.add_argument("--entries", type=int, default=4, help="audit entries per transaction")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="renkei-bench-audit-") as tmp:
        os.environ["RENKEI_AUDIT_KEY_FILE"] = str(Path(tmp) / "audit.key")
        with start_postgres() as pg:
            from renkei.pipelines.store import Store

            print(f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}; {args.entries} entries per transaction")
            print(f"{'clients':>8} {'txn/s':>8} {'hold p50 ms':>12} {'hold p99 ms':>12}")
            for k, clients in enumerate(int(c) for c in args.clients.split(",")):
                url = pg.create_database(f"audit_chain_{k}")
                Store(url).close()  # the tables, created once before the clients start
                rate, holds = run(url, clients, args.seconds, args.entries)
                holds.sort()
                p99 = holds[min(len(holds) - 1, int(0.99 * len(holds)))]
                print(f"{clients:>8} {rate:>8.0f} {statistics.median(holds) * 1e3:>12.2f} {p99 * 1e3:>12.2f}")


if __name__ == "__main__":
    main()

"""MLLP ingest end to end: concurrent senders -> real listener -> durable store -> ACK, beside parse rates.

    python bench/bench_mllp.py [--messages 20000] [--senders 8] [--with-processing] [--hl7apy-messages 500]

The listener runs in its own process (as under `renkei run`): an Engine on a fresh SQLite store in a
temporary folder (WAL, synchronous=FULL), each message committed before its ACK (group commit), with
the AE check (renkei's parse) on. `--with-processing` also runs the engine's processing worker process (as
`renkei run` does), which parses, renders and delivers to the built-in timeline while messages keep
arriving (the same SQLite file, so it competes for the write lock). The senders are threads of this
process, one persistent connection each, each waiting for its ACK before sending the next message; the
ACK latency is send -> ACK.

In the same run, over the same messages: the bare python-hl7 `hl7.parse` rate, hl7apy's `parse_message`
rate, renkei's own parse (what the listener runs for AE), and one ACK built by hand vs with hl7apy.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CONFIG = """\
version: 1
connectors:
  feed: {{type: mllp, host: 127.0.0.1, port: {port}, max_connections_per_peer: 64}}  # every sender is local
  timeline: {{type: builtin}}
pipelines:
  - {{name: mllp-in, source: feed, destinations: [timeline], trigger: {{event: true}},
     gates: {{consent: false}}}}  # throughput of the path itself; consent lookups are part of bench_sync
"""


def serve(config: str, data: str, with_processing: bool) -> None:
    """Child process: the listener feeding Engine.ingest, optionally with the processing worker."""
    from renkei.config.loader import load_config
    from renkei.pipelines.engine import Engine
    from renkei.pipelines.store import Store

    engine = Engine(load_config(Path(config)), Store.in_data_dir(Path(data)), Path(data))
    listener = engine.connector("feed")
    listener.start(lambda items: engine.ingest("mllp-in", items))
    if with_processing:  # as `renkei run` does: the processing worker in its own process
        from renkei.pipelines import worker

        _process, _stop = worker.start(Path(config), Path(data), "mllp-in")  # keep them: the child needs the Event
    print("ready", flush=True)
    sys.stdin.read()  # the parent closes stdin to stop us
    states = engine.store.counts().get("mllp-in", {})
    print(f"messages by state when the senders finished: {dict(sorted(states.items()))}; ", end="")
    c = listener._committer
    cpu = time.process_time()
    print(
        f"server process CPU {cpu:.1f} s ({cpu / max(c.stored, 1) * 1e6:.0f} us per message, start-up included); ",
        end="",
    )
    print(
        f"{c.batches} group commits, mean {c.stored / max(c.batches, 1):.1f} messages and "
        f"{c.seconds / max(c.batches, 1) * 1e3:.2f} ms each, {c.seconds:.1f} s in ingest",
        flush=True,
    )
    engine.close()
    engine.store.close()


def serve_python_hl7(port: int) -> None:
    """Child process: python-hl7's own asyncio MLLP server, ACK built by `create_ack`, nothing stored."""
    import asyncio

    import hl7.mllp

    async def handle(reader: hl7.mllp.HL7StreamReader, writer: hl7.mllp.HL7StreamWriter) -> None:
        try:
            while not writer.is_closing():
                message = await reader.readmessage()
                writer.writemessage(message.create_ack())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await hl7.mllp.start_hl7_server(handle, "127.0.0.1", port, encoding="iso2022_jp")
        print("ready", flush=True)
        async with server:
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        print(f"server process CPU {time.process_time():.1f} s", flush=True)

    asyncio.run(main())


def make_messages(n: int, apps: int = 4) -> list[bytes]:
    """Generated SS-MIX2-shaped traffic (ADT^A08 and OUL^R22, ISO-2022-JP), each with a unique MSH-10."""
    from renkei.connectors.ssmix2.generator import iter_storage

    out: list[bytes] = []
    patients = max(1, n // 4)
    for i, (_key, data, _records) in enumerate(iter_storage(patients, labs_per_patient=3, seed=1)):
        if i >= n:
            break
        text = data.decode("iso2022_jp")
        msh, rest = text.split("\r", 1)
        fields = msh.split("|")
        fields[9] = f"B{i:09d}"  # MSH-10
        fields[2] = f"HIS{i % apps}"  # MSH-3: each sending application is one ledger group
        out.append(("|".join(fields) + "\r" + rest).encode("iso2022_jp"))
    return out


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def run_senders(port: int, msgs: list[bytes], senders: int) -> tuple[float, list[float], dict[str, int]]:
    from renkei.connectors.mllp import MLLPClient

    latencies: list[list[float]] = [[] for _ in range(senders)]
    codes: dict[str, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(senders + 1)

    def sender(i: int) -> None:
        mine = msgs[i::senders]
        lat = latencies[i]
        with MLLPClient("127.0.0.1", port, ack_timeout=30) as c:
            c.connect()
            barrier.wait()
            for m in mine:
                t = time.perf_counter()
                ack = c.send(m)
                lat.append(time.perf_counter() - t)
                with lock:
                    codes[ack.code] = codes.get(ack.code, 0) + 1

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - started, [x for lat in latencies for x in lat], codes


def measure(
    msgs: list[bytes], senders: int, server: str, with_processing: bool
) -> tuple[float, list[float], dict[str, int], str]:
    """One round against a fresh server child ("renkei" or "python-hl7"): msg/s, ACK latencies, codes."""
    with tempfile.TemporaryDirectory(prefix="renkei-bench-mllp-") as tmp:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = Path(tmp) / "renkei.yaml"
        config.write_text(CONFIG.format(port=port), encoding="utf-8")
        if server == "renkei":
            serve_args = ["--serve", str(config), str(Path(tmp) / "data"), "1" if with_processing else "0"]
        else:
            serve_args = ["--serve-python-hl7", str(port)]
        child = subprocess.Popen(
            [sys.executable, __file__, *serve_args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        seconds, lat, codes = run_senders(port, msgs, senders)
        child.stdin.close()
        summary = child.stdout.read().strip()
        child.wait(30)
    return len(msgs) / seconds, lat, codes, summary


def parse_baselines(msgs: list[bytes], hl7apy_n: int) -> dict[str, float]:
    import hl7
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    from renkei.connectors.mllp import MLLPListener

    texts = [m.decode("iso2022_jp") for m in msgs]
    rates: dict[str, float] = {}
    t = time.perf_counter()
    for m in msgs:
        hl7.parse(m.decode("iso2022_jp"))
    rates["python-hl7 hl7.parse (decode + parse)"] = len(msgs) / (time.perf_counter() - t)
    sub = texts[:hl7apy_n]
    t = time.perf_counter()
    for text in sub:
        parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT)
    rates["hl7apy parse_message (tolerant)"] = len(sub) / (time.perf_counter() - t)
    listener = MLLPListener("bench", MLLPListener.Settings(port=0))
    t = time.perf_counter()
    for m in msgs:
        listener.parse("bench", m)
    rates["renkei parse (decode + records)"] = len(msgs) / (time.perf_counter() - t)
    return rates


def ack_costs(msg: bytes, n: int = 300) -> tuple[float, float]:
    from hl7apy.core import Message

    from renkei.connectors.mllp import build_ack, read_header

    h = read_header(msg)
    t = time.perf_counter()
    for _ in range(n * 10):
        build_ack(h, "AA")
    ours = (time.perf_counter() - t) / (n * 10)
    t = time.perf_counter()
    for _ in range(n):
        m = Message("ACK", version="2.5")
        m.msh.msh_3, m.msh.msh_4, m.msh.msh_5, m.msh.msh_6 = h.get(5), h.get(6), h.get(3), h.get(4)
        m.msh.msh_7 = time.strftime("%Y%m%d%H%M%S")
        m.msh.msh_9, m.msh.msh_10, m.msh.msh_11, m.msh.msh_12 = "ACK^A08^ACK", "RK1", "P", "2.5"
        m.msa.msa_1, m.msa.msa_2 = "AA", h.control_id
        m.to_er7()
    return ours, (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--senders", type=int, default=8)
    ap.add_argument("--apps", type=int, default=4, help="distinct sending applications (MSH-3)")
    ap.add_argument("--with-processing", action="store_true", help="also run the engine's processing worker")
    ap.add_argument("--hl7apy-messages", type=int, default=500, help="hl7apy is slow: time it on this many")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of python-hl7 then renkei, alternating")
    ap.add_argument("--skip-parse-rates", action="store_true", help="only the servers")
    ap.add_argument("--serve-python-hl7", type=int, metavar="PORT", help=argparse.SUPPRESS)
    ap.add_argument("--serve", nargs=3, metavar=("CONFIG", "DATA", "PROCESS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], args.serve[2] == "1")
        return
    if args.serve_python_hl7:
        serve_python_hl7(args.serve_python_hl7)
        return

    msgs = make_messages(args.messages, args.apps)
    print(f"{len(msgs)} messages (ADT^A08 + OUL^R22, ISO-2022-JP, mean {statistics.mean(map(len, msgs)):.0f} bytes), "
          f"{args.apps} sending applications, {args.senders} senders, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    mode = "with processing worker" if args.with_processing else "ingest only"
    ours: list[tuple[float, list[float]]] = []
    theirs: list[tuple[float, list[float]]] = []
    for r in range(args.rounds):  # alternate, so both see the same machine load
        rate, lat, codes, server = measure(msgs, args.senders, "python-hl7", args.with_processing)
        theirs.append((rate, lat))
        print(f"round {r + 1}: python-hl7 asyncio server (nothing stored, ACK by create_ack):")
        print(f"  {rate:>10,.0f} msg/s   ACK ms p50 {_pct(lat, 50) * 1e3:.2f}  p99 {_pct(lat, 99) * 1e3:.2f}  "
              f"max {max(lat) * 1e3:.2f}; ACK codes {codes}")  # fmt: skip
        rate, lat, codes, server = measure(msgs, args.senders, "renkei", args.with_processing)
        ours.append((rate, lat))
        print(f"round {r + 1}: renkei MLLP listener ({mode}, durable before ACK):")
        print(f"  {rate:>10,.0f} msg/s   ACK ms p50 {_pct(lat, 50) * 1e3:.2f}  p95 {_pct(lat, 95) * 1e3:.2f}  "
              f"p99 {_pct(lat, 99) * 1e3:.2f}  max {max(lat) * 1e3:.2f}; ACK codes {codes}")  # fmt: skip
        print(f"  listener: {server}  (load {os.getloadavg()[0]:.1f})")
    rate = statistics.median(x[0] for x in ours)
    base = statistics.median(x[0] for x in theirs)
    p99 = statistics.median(_pct(x[1], 99) for x in ours)
    base_p99 = statistics.median(_pct(x[1], 99) for x in theirs)
    print(f"median of {args.rounds} rounds: renkei {rate:,.0f} msg/s = {rate / base:.2f}x python-hl7's {base:,.0f} "
          f"(target >= 0.9x); ACK p99 renkei {p99 * 1e3:.2f} ms, python-hl7 {base_p99 * 1e3:.2f} ms "
          f"(target <= 20 ms)")  # fmt: skip
    if args.skip_parse_rates:
        return
    print("parse rates over the same messages (one core, this process):")
    rates = parse_baselines(msgs, args.hl7apy_messages)
    for label, r in rates.items():
        print(f"  {label:<40} {r:>10,.0f} msg/s   MLLP end to end is {rate / r:5.2f}x this")
    by_hand, by_hl7apy = ack_costs(msgs[0])
    print(f"one ACK: by hand {by_hand * 1e6:.1f} us, hl7apy Message('ACK').to_er7() {by_hl7apy * 1e3:.2f} ms "
          f"({by_hl7apy / by_hand:,.0f}x)")  # fmt: skip


if __name__ == "__main__":
    main()

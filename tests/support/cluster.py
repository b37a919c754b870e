"""A renkei cluster on one machine for the integration test and bench/bench_workers.py: a generated
SS-MIX2 storage, a PostgreSQL store, `renkei run` (the scans) and N `renkei worker` processes, a local
webhook receiver that records what arrives, and the checks of what was delivered.

The receiver keeps every request (Idempotency-Key, patient, arrival time) and answers 200 with an id, as
a partner API that drops repeats would; `Outcome` reads the store and the built-in timeline afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sqlalchemy as sa

from renkei.connectors.ssmix2.generator import generate

RENKEI = str(Path(sys.executable).parent / "renkei")
SECRET_ENV = "RENKEI_CLUSTER_WEBHOOK_SECRET"
SCAN_PERIOD_SECONDS = 5

CONFIG = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  timeline: {{type: builtin, members: [nurse.sato]}}
  partner: {{type: webhook, url: "{url}/inbox", secret_env: {secret_env}, attempts: 1}}
pipelines:
  - name: sync
    source: ehr
    trigger: {{interval_seconds: {period}}}
    destinations: [timeline, partner]
    gates: {{consent: false}}
"""


class Receiver:
    """The webhook server: records (idempotency key, patient id, arrival time) of every POST."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[str, str, float]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                key = self.headers.get("Idempotency-Key", "")
                patient = json.loads(body).get("patient_id", "")
                with receiver._lock:
                    receiver.arrivals.append((key, patient, time.time()))
                    n = len(receiver.arrivals)
                out = json.dumps({"id": f"r{n}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Site:
    """A config, data folder and environment for every process of the cluster."""

    workdir: Path
    store_url: str
    receiver: Receiver
    patients: int
    files_per_patient: int
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.workdir / "renkei.yaml"

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def messages(self) -> int:
        return self.patients * self.files_per_patient

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RENKEI_STORE_URL": self.store_url,
            "RENKEI_DATA": str(self.data),
            "RENKEI_AUDIT_KEY_FILE": str(self.workdir / "audit.key"),
            "RENKEI_AUDIT_ANCHOR_DIR": str(self.workdir / "anchors"),
            SECRET_ENV: "cluster-test-secret",
        }

    def renkei(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([RENKEI, *args], env=self.env(), capture_output=True, text=True, timeout=300, check=False)

    def start(self, name: str, *args: str) -> subprocess.Popen:
        with open(self.workdir / f"{name}.log", "ab") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen([RENKEI, *args], env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = proc
        return proc

    def start_worker(self, worker_id: str, concurrency: int = 2) -> subprocess.Popen:
        return self.start(worker_id, "worker", str(self.config), "--worker-id", worker_id,
                          "--concurrency", str(concurrency))  # fmt: skip

    def kill(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")


def make_site(
    workdir: Path, store_url: str, patients: int, files_per_patient: int, storage: Path | None = None
) -> Site:
    """Storage of `patients` × `files_per_patient` files (one ADT, the rest lab results; or the given
    `storage`, written so before), config, data."""
    root = storage or workdir / "storage"
    if storage is None:
        generate(root, patients=patients, labs_per_patient=files_per_patient - 1)
    receiver = Receiver()
    site = Site(workdir, store_url, receiver, patients, files_per_patient)
    site.data.mkdir(parents=True, exist_ok=True)
    site.config.write_text(
        CONFIG.format(root=root, url=receiver.url, secret_env=SECRET_ENV, period=SCAN_PERIOD_SECONDS), encoding="utf-8"
    )
    return site


def progress(store_url: str) -> tuple[int, int, int]:
    """(messages stored, deliveries, deliveries SENT) right now."""
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT count(*) FROM messages").scalar()
            total, sent = conn.exec_driver_sql(
                "SELECT count(*), count(*) FILTER (WHERE state = 'SENT') FROM deliveries"
            ).one()
    finally:
        engine.dispose()
    return int(stored or 0), int(total or 0), int(sent or 0)


def settled(store_url: str, expected_messages: int) -> bool:
    """Every file stored and no message or delivery left to do."""
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT count(*) FROM messages").scalar()
            open_messages = conn.exec_driver_sql(
                "SELECT count(*) FROM messages WHERE state IN ('RECEIVED', 'QUEUED', 'ERROR')"
            ).scalar()
            open_deliveries = conn.exec_driver_sql(
                "SELECT count(*) FROM deliveries WHERE state IN ('QUEUED', 'ERROR')"
            ).scalar()
    finally:
        engine.dispose()
    return stored == expected_messages and open_messages == 0 and open_deliveries == 0


def wait_until(check, timeout: float, every: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


@dataclass
class Outcome:
    """What was delivered, read from the store, the built-in timeline and the receiver."""

    states: dict[str, int]
    delivery_states: dict[str, int]
    deliveries: dict[str, list[tuple[int, str, str]]]  # destination -> [(message id, patient, key)]
    timeline_keys: list[tuple[str, str]]  # (patient id, key) in post order
    webhook_arrivals: list[tuple[str, str, float]]
    delays: list[float]  # seconds from a message stored to each of its deliveries confirmed
    scheduled_periods: list[int]

    @classmethod
    def read(cls, site: Site) -> Outcome:
        engine = sa.create_engine(site.store_url)
        try:
            with engine.connect() as conn:
                states = dict(conn.exec_driver_sql("SELECT state, count(*) FROM messages GROUP BY state").all())
                dstates = dict(conn.exec_driver_sql("SELECT state, count(*) FROM deliveries GROUP BY state").all())
                deliveries: dict[str, list[tuple[int, str, str]]] = {}
                for dest, mid, pid, key in conn.exec_driver_sql(
                    "SELECT destination, message_id, patient_id, idempotency_key FROM deliveries ORDER BY id"
                ).all():
                    deliveries.setdefault(dest, []).append((mid, pid, key))
                delays = [
                    float(d) for (d,) in conn.exec_driver_sql(
                        "SELECT i.delivered_at - m.received_at FROM deliveries d JOIN messages m ON m.id = d.message_id"
                        " JOIN idempotency i ON i.destination = d.destination AND i.key = d.idempotency_key"
                    ).all()
                ]  # fmt: skip
                periods = [
                    int(detail.split()[-1]) for (detail,) in conn.exec_driver_sql(
                        "SELECT detail FROM audit_log WHERE action = 'pipeline.scheduled_run' ORDER BY seq"
                    ).all()
                ]  # fmt: skip
        finally:
            engine.dispose()
        timeline = sa.create_engine(f"sqlite:///{site.data / 'timeline.sqlite'}")
        try:
            with timeline.connect() as conn:
                posts = conn.exec_driver_sql(
                    "SELECT g.patient_id, p.idempotency_key FROM posts p JOIN groups g ON g.id = p.group_id"
                    " ORDER BY p.id"
                ).all()
        finally:
            timeline.dispose()
        return cls(states, dstates, deliveries, [(p, k) for p, k in posts], list(site.receiver.arrivals), delays,
                   periods)  # fmt: skip


def out_of_order(arrivals: list[tuple[str, str]], message_of: dict[str, int]) -> list[str]:
    """Patients whose deliveries arrived with a later message before an earlier one (first arrivals)."""
    last: dict[str, int] = {}
    seen: set[str] = set()
    bad: list[str] = []
    for patient, key in arrivals:
        if key in seen:
            continue  # a repeat (sent again after a kill): the receiver drops it by its key
        seen.add(key)
        mid = message_of[key]
        if mid < last.get(patient, 0):
            bad.append(patient)
        last[patient] = mid
    return bad


def delays_since(store_url: str, since: float) -> list[float]:
    """Stored -> confirmed, in seconds, of every delivery of the messages stored after `since`."""
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            return [
                float(d) for (d,) in conn.execute(
                    sa.text(
                        "SELECT i.delivered_at - m.received_at FROM deliveries d JOIN messages m ON m.id = d.message_id"
                        " JOIN idempotency i ON i.destination = d.destination AND i.key = d.idempotency_key"
                        " WHERE m.received_at >= :since"
                    ),
                    {"since": since},
                ).all()
            ]  # fmt: skip
    finally:
        engine.dispose()


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]

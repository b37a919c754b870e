"""Console page latency (p50/p95) with 10,000 messages and 1,000 patients in the store.

    python bench/bench_console.py [--messages 10000] [--patients 1000] [--requests 40]

The store is built with the Store's own calls (receive_many, save_processed with deliveries and patient
records, the registry's consent, the built-in timeline's deliver_many): per patient, lab results (a tenth
held for a physician, some dead), device vital signs over the last weeks, and timeline posts. Then each
page is requested N times in-process (Starlette's TestClient, logged in as the role that may open it; no
network, no TLS), after one warm-up request. Target: p95 <= 200 ms per page.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from starlette.testclient import TestClient

from renkei.bin.console import ConsoleSettings, build_app
from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.devices import nomenclature as mdc
from renkei.devices.readings import make_observation
from renkei.pipelines.people import People
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import MessageState
from renkei.pipelines.store import Store
from renkei.pipelines.store.items import NewDelivery, Processed, Received

PASSWORD = "bench password 123"
TARGET_MS = 200.0


def build(data: Path, n_messages: int, n_patients: int) -> list[str]:
    store = Store.in_data_dir(data)
    rng = random.Random(7)
    patients = [f"9{i:08d}" for i in range(n_patients)]
    now = datetime.now().astimezone()
    received = store.receive_many("sync", "ehr", [
        Received(f"{patients[i % n_patients]}/lab-{i}", f"fp-{i}", b"MSH|^~\\&|bench\r" * 20)
        for i in range(n_messages)
    ])  # fmt: skip
    results = []
    for i, mid in enumerate(received):
        pid = patients[i % n_patients]
        if i % 3 == 0:  # a vital-sign reading from the bedside
            at = now - timedelta(hours=rng.randrange(1, 24 * 42))
            readings = ((mdc.MDC_PRESS_BLD_NONINV_SYS, str(rng.randrange(110, 160)), mdc.MDC_DIM_MMHG),
                        (mdc.MDC_PRESS_BLD_NONINV_DIA, str(rng.randrange(60, 95)), mdc.MDC_DIM_MMHG),
                        (mdc.MDC_PULS_RATE_NON_INV, str(rng.randrange(55, 100)), mdc.MDC_DIM_BEAT_PER_MIN))  # fmt: skip
            records = [make_observation(c, v, u, effective=at).to_dict() | {"patient_id": pid} for c, v, u in readings]
        else:
            records = [{"kind": "observation", "patient_id": pid, "code": {"code": "3A015000002327101"},
                        "value": str(rng.randrange(35, 50) / 10), "unit": "g/dL"}]  # fmt: skip
        state = (MessageState.AWAITING_APPROVAL if i % 10 == 1 else MessageState.DEAD if i % 97 == 0
                 else MessageState.SENT)  # fmt: skip
        results.append(Processed(
            mid, "sync", state, patient_id=pid, data_type="OML-11", records=records,
            deliveries=[NewDelivery("timeline", f"timeline:{mid}", {"patient_id": pid, "text": f"【検査結果】#{mid}"})],
            patient_record={"name_kanji": "連携 花子", "name_kana": "レンケイ ハナコ"} if i < n_patients else None,
        ))  # fmt: skip
    for start in range(0, len(results), 1000):
        store.save_processed(results[start : start + 1000])
    registry = PatientRegistry(store)
    for pid in patients:
        registry.set_consent(pid, True, ["all"], date(2026, 4, 1), actor="bench")
    timeline = BuiltinTimeline.open(data)
    try:
        posts = [({"patient_id": pid, "text": f"【バイタル】血圧 {120 + k}/80 mmHg"}, f"bench:{pid}:{k}")
                 for pid in patients for k in range(5)]  # fmt: skip
        for start in range(0, len(posts), 1000):
            timeline.deliver_many(posts[start : start + 1000])
    finally:
        timeline.close()
    people = People(store)
    people.add("bench.admin", ["admin"], PASSWORD)
    people.add("bench.doctor", ["physician"], PASSWORD)
    store.close()
    return patients


def login(app, name: str) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"user": name, "password": PASSWORD, "csrf": token}).status_code == 303
    return client


def measure(client: TestClient, path: str, n: int) -> tuple[float, float, int]:
    first = client.get(path)
    assert first.status_code == 200, (path, first.status_code)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], len(first.content)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--patients", type=int, default=1_000)
    ap.add_argument("--requests", type=int, default=40)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        t0 = time.perf_counter()
        patients = build(data, args.messages, args.patients)
        print(f"store: {args.messages} messages, {args.patients} patients, built in {time.perf_counter() - t0:.1f} s")
        store = Store.in_data_dir(data)
        app = build_app(store, None, data, ConsoleSettings(allowed_hosts=["127.0.0.1"]))
        admin, doctor = login(app, "bench.admin"), login(app, "bench.doctor")
        held = store.list_messages(state=MessageState.AWAITING_APPROVAL.value, limit=1)[0].id
        pid = patients[len(patients) // 2]
        pages = [
            ("dashboard", admin, "/dashboard"), ("dashboard fragment", admin, "/dashboard/live"),
            ("approvals", doctor, "/approvals"), ("timelines", admin, "/timelines"),
            ("a patient's timeline", admin, f"/timelines/{pid}"), ("message browser", admin, "/messages"),
            ("message browser, one patient", admin, f"/messages?patient={pid}"),
            ("message browser, held", admin, "/messages?state=AWAITING_APPROVAL"),
            ("one message", admin, f"/messages/{held}"), ("patients", admin, "/patients"),
            ("a patient", admin, f"/patients/{pid}"), ("vitals trend", doctor, f"/patients/{pid}/vitals"),
        ]  # fmt: skip
        print(f"{'page':32} {'p50 ms':>8} {'p95 ms':>8} {'bytes':>9}")
        slow = []
        for name, client, path in pages:
            p50, p95, size = measure(client, path, args.requests)
            print(f"{name:32} {p50:8.1f} {p95:8.1f} {size:9d}{'  over target' if p95 > TARGET_MS else ''}")
            if p95 > TARGET_MS:
                slow.append(name)
        store.close()
        print(f"target p95 <= {TARGET_MS:.0f} ms: {'met' if not slow else 'missed by ' + ', '.join(slow)}")


if __name__ == "__main__":
    main()

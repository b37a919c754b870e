"""The regional path (pipelines/cluster) on a real PostgreSQL: `renkei run` scanning a generated SS-MIX2
storage, two `renkei worker` processes with distinct ids, the built-in timeline and a local webhook
receiver; one worker SIGKILLed mid-run and restarted.

It feeds 200 patients × 100 files: 20,000 messages, 40,000 deliveries (about 2.5 minutes on this 2-core
machine; RENKEI_CLUSTER_FILES=10 makes a quick 2,000-message run).
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections import Counter
from pathlib import Path

import pytest
from support import cluster

from renkei.config.schema import TriggerConfig
from renkei.errors import ConfigError
from renkei.pipelines.cluster.jobs import delivery_lock
from renkei.pipelines.scheduler import cluster_cron
from renkei.pipelines.store import Received, Store

PATIENTS = int(os.environ.get("RENKEI_CLUSTER_PATIENTS", "200"))
FILES_PER_PATIENT = int(os.environ.get("RENKEI_CLUSTER_FILES", "100"))


@pytest.mark.integration
def test_two_workers_one_killed_deliver_everything_once_in_order(
    postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = cluster.make_site(tmp_path, postgres.create_database("renkei_cluster"), PATIENTS, FILES_PER_PATIENT)
    try:
        upgraded = site.renkei("db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        assert "procrastinate's job tables" in upgraded.stdout
        site.start_worker("w1")
        site.start_worker("w2")
        site.start("run", "run", str(site.config))
        # Kill w1 while it is delivering: a quarter of the deliveries are confirmed, most are not.
        expected_deliveries = 2 * site.messages  # each lab result goes to the timeline and the webhook
        assert cluster.wait_until(lambda: cluster.progress(site.store_url)[2] >= expected_deliveries // 4, 600), (
            f"no progress: {cluster.progress(site.store_url)}\n{site.log('w1')[-2000:]}\n{site.log('run')[-2000:]}"
        )
        site.kill("w1")
        _, _, sent_at_kill = cluster.progress(site.store_url)
        assert sent_at_kill < expected_deliveries, "the kill came after the end: make the feed larger"
        site.start_worker("w1")  # the same worker id, restarted
        assert cluster.wait_until(lambda: cluster.settled(site.store_url, site.messages), 900, every=2.0), (
            f"not settled: {cluster.progress(site.store_url)}\n{site.log('w1')[-3000:]}\n{site.log('w2')[-3000:]}"
        )
    finally:
        site.stop_all()
        site.receiver.close()
    outcome = cluster.Outcome.read(site)

    # Every message processed and every delivery confirmed, none failed.
    assert sum(outcome.states.values()) == site.messages
    assert set(outcome.delivery_states) == {"SENT"}, outcome.delivery_states
    timeline, partner = outcome.deliveries["timeline"], outcome.deliveries["partner"]
    assert len(timeline) == len(partner) >= PATIENTS * (FILES_PER_PATIENT - 1)
    assert len({mid for mid, _, _ in timeline}) == len(timeline)  # one delivery per message and destination

    # The built-in timeline: each delivery posted exactly once (its key is unique there), in message order.
    posted = Counter(key for _, key in outcome.timeline_keys)
    assert set(posted) == {key for _, _, key in timeline}
    assert max(posted.values()) == 1
    message_of = {key: mid for mid, _, key in timeline + partner}
    assert cluster.out_of_order(outcome.timeline_keys, message_of) == []

    # The webhook receiver: every delivery arrived; a repeat only for what was in flight in the killed
    # worker (2 at once), under the same Idempotency-Key, which the receiver drops; order per patient.
    arrived = Counter(key for key, _, _ in outcome.webhook_arrivals)
    assert set(arrived) == {key for _, _, key in partner}
    repeats = sum(n - 1 for n in arrived.values())
    assert repeats <= 2, f"{repeats} repeats"
    by_arrival = [(patient, key) for key, patient, _ in outcome.webhook_arrivals]
    assert cluster.out_of_order(by_arrival, message_of) == []

    # The scheduled pipeline: deferred by all three processes, run once per period (5 s apart).
    periods = outcome.scheduled_periods
    assert len(periods) >= 2
    assert len(set(periods)) == len(periods), f"a period ran twice: {periods}"
    assert all(p % cluster.SCAN_PERIOD_SECONDS == 0 for p in periods)

    # The audit chain held with the narrowed writer lock (appends serialised by the chain itself).
    monkeypatch.setenv("RENKEI_AUDIT_KEY_FILE", site.env()["RENKEI_AUDIT_KEY_FILE"])
    store = Store(site.store_url)
    try:
        assert store.verify_audit().ok
    finally:
        store.close()


@pytest.mark.integration
def test_listeners_on_two_hosts_store_a_resent_msh10_once(pg_url: str) -> None:
    """Two stores (as two hosts' listeners: separate connection pools) receive the same message ids at
    once; the per-pipeline lock of the duplicate check stores each once, the other gets a duplicate."""
    stores = [Store(pg_url), Store(pg_url)]
    keys = [f"MSG{i:05d}" for i in range(200)]
    results: list[list[tuple[int, bool]]] = [[], []]
    start = threading.Barrier(2)

    def listen(i: int) -> None:
        start.wait()
        for k in keys:  # one message per call, as a listener acknowledges them
            results[i].extend(stores[i].receive_new("mllp", "adt", [Received(k, f"fp-{k}", b"MSH|", "mllp")]))

    threads = [threading.Thread(target=listen, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert stores[0].counts() == {"mllp": {"RECEIVED": len(keys)}}
        for pos in range(len(keys)):
            (a, dup_a), (b, dup_b) = results[0][pos], results[1][pos]
            assert a == b and sorted([dup_a, dup_b]) == [False, True]
        assert stores[0].verify_audit().ok
    finally:
        for s in stores:
            s.close()


def test_interval_triggers_become_cluster_wide_crons() -> None:
    assert cluster_cron(TriggerConfig(interval_seconds=5)) == "* * * * * */5"
    assert cluster_cron(TriggerConfig(interval_seconds=900)) == "*/15 * * * *"
    assert cluster_cron(TriggerConfig(interval_seconds=21600)) == "0 */6 * * *"
    assert cluster_cron(TriggerConfig(cron="30 3 * * *")) == "30 3 * * *"
    with pytest.raises(ConfigError, match="interval_seconds 7"):
        cluster_cron(TriggerConfig(interval_seconds=7))


def test_delivery_locks_name_no_patient() -> None:
    lock = delivery_lock("partner", "9999013")
    assert "9999013" not in lock and lock.startswith("deliver:")
    assert lock == delivery_lock("partner", "9999013") != delivery_lock("timeline", "9999013")


def test_worker_refuses_a_sqlite_store(tmp_path: Path) -> None:
    site_config = tmp_path / "renkei.yaml"
    site_config.write_text(cluster.CONFIG.format(root=tmp_path, url="http://127.0.0.1:9", secret_env="X", period=5))
    env = {k: v for k, v in os.environ.items() if k != "RENKEI_STORE_URL"}
    proc = subprocess.run(
        [cluster.RENKEI, "worker", str(site_config), "--data", str(tmp_path / "data")],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2  # a configuration error
    assert "PostgreSQL store" in proc.stderr and "RENKEI_STORE_URL" in proc.stderr

"""The must-show test: 10,000 messages from concurrent senders, the listener SIGKILLed mid-stream.

`renkei run` serves an MLLP pipeline in a child process on a real socket. Eight client threads send
10,000 messages (unique MSH-10s, three sending applications); once about a third are acknowledged the
service is killed with SIGKILL and restarted. Each client resends whatever had no ACK yet (and, at the
end, a sample of what was acknowledged, to exercise de-duplication). The store must then hold every
message exactly once, and every acknowledged one among them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from renkei.connectors.mllp import MLLPClient
from renkei.pipelines.schema import messages
from renkei.pipelines.store import Store

TOTAL = 10_000
CLIENTS = 8
KILL_AFTER = 3_000

CONFIG = """\
version: 1
connectors:
  feed: {{type: mllp, host: 127.0.0.1, port: {port}}}
  timeline: {{type: builtin}}
pipelines:
  - {{name: mllp-in, source: feed, destinations: [timeline], trigger: {{event: true}}, gates: {{consent: false}}}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _message(n: int) -> bytes:
    sender = f"HIS{n % 3}"
    return (
        f"MSH|^~\\&|{sender}|WARD|RENKEI|RCV|20240401090000||ADT^A08^ADT_A01|M{n:06d}|P|2.5||||||UNICODE UTF-8\r"
        f"EVN||202404010900\rPID|0001||P{n % 500:05d}^^^^PI||試験^患者{n % 500}||19400312|F\rPV1|0001|O\r"
    ).encode()


def _key(n: int) -> str:
    return f"HIS{n % 3}^WARD|M{n:06d}"


class Service:
    def __init__(self, config: Path, data: Path, port: int, log: Path) -> None:
        self.args = [
            sys.executable,
            "-c",
            "from renkei.bin.cli import main; main()",
            "run",
            str(config),
            "--data",
            str(data),
        ]
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the MLLP service did not start listening")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.mark.integration
def test_kill_mid_stream_resend_stores_every_message_exactly_once(tmp_path: Path) -> None:
    port = _free_port()
    config, data = tmp_path / "renkei.yaml", tmp_path / "data"
    config.write_text(CONFIG.format(port=port), encoding="utf-8")
    service = Service(config, data, port, tmp_path / "service.log")
    service.start()

    acked: set[int] = set()
    duplicates_acked: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    resent_after_failure = Counter[str]()

    def client(index: int) -> None:
        mine = list(range(index, TOTAL, CLIENTS))
        c = MLLPClient("127.0.0.1", port, connect_timeout=2, ack_timeout=10)
        try:
            for n in mine:
                while True:  # resend until acknowledged: the listener may be dead or restarting
                    try:
                        ack = c.send(_message(n))
                    except OSError:
                        resent_after_failure["resends"] += 1
                        time.sleep(0.05)
                        continue
                    assert ack.code == "AA" and ack.control_id == f"M{n:06d}", ack
                    with lock:
                        acked.add(n)
                    break
            for n in mine[::25]:  # resend some acknowledged ones: acknowledged again, not stored again
                ack = c.send(_message(n))
                assert ack.code == "AA" and "duplicate" in ack.text, ack
                with lock:
                    duplicates_acked.append(n)
        except BaseException as exc:
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.monotonic()
    try:
        for t in threads:
            t.start()
        while len(acked) < KILL_AFTER and not errors:
            time.sleep(0.01)
        service.kill()
        acked_at_kill = len(acked)
        time.sleep(0.3)  # senders see connection refused and keep retrying
        service.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[0]
        assert all(not t.is_alive() for t in threads)
    finally:
        service.stop()
    elapsed = time.monotonic() - started

    assert KILL_AFTER <= acked_at_kill < TOTAL  # the kill really was mid-stream
    assert resent_after_failure["resends"] > 0  # and the senders really had to resend
    assert acked == set(range(TOTAL))
    assert len(duplicates_acked) == sum(len(range(i, TOTAL, CLIENTS)[::25]) for i in range(CLIENTS))

    store = Store.in_data_dir(data)
    try:
        with store.read() as conn:
            rows = conn.execute(
                sa.select(messages.c.source_key, messages.c.raw).where(messages.c.pipeline == "mllp-in")
            ).all()
    finally:
        store.close()
    counts = Counter(key for key, _ in rows)
    assert len(rows) == TOTAL, f"{len(rows) - len(counts)} stored twice" if len(rows) > len(counts) else len(rows)
    assert set(counts) == {_key(n) for n in range(TOTAL)}
    assert max(counts.values()) == 1
    raw_by_key = dict(rows)
    for n in (0, 1, acked_at_kill, TOTAL - 1):
        assert raw_by_key[_key(n)] == _message(n)
    print(f"\n{TOTAL} messages, killed after {acked_at_kill} ACKs, {resent_after_failure['resends']} resends, "
          f"{elapsed:.1f}s, {os.cpu_count()} CPUs")  # fmt: skip

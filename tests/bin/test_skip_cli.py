"""`renkei reprocess --skip`: a DEAD head holds its patient's later messages; skipping it lets them go."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from renkei.connectors.ssmix2.generator import generate


class Partner(ThreadingHTTPServer):
    """A real receiver that refuses its first request with 400 (a permanent error), then accepts."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers = [400]
        self.accepted = 0


class _Handler(BaseHTTPRequestHandler):
    server: Partner

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        status = self.server.answers.pop(0) if self.server.answers else 200
        self.server.accepted += status == 200
        body = b'{"id": "ok"}' if status == 200 else b'{"error": "bad request"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def partner() -> Iterator[Partner]:
    server = Partner()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_skip_releases_the_messages_held_behind_a_dead_head(cli, tmp_path: Path, partner: Partner) -> None:
    generate(tmp_path / "storage", patients=2, labs_per_patient=2, seed=3)
    port = partner.server_address[1]
    (tmp_path / "renkei.yaml").write_text(
        f"""
version: 1
connectors:
  ehr: {{type: ssmix2, root: storage}}
  partner: {{type: webhook, url: "http://127.0.0.1:{port}/inbox", secret_env: RENKEI_T_SKIP, attempts: 1}}
pipelines:
  - name: sync
    source: ehr
    destinations: [partner]
    gates: {{consent: false}}
""",
        encoding="utf-8",
    )
    cli.env["RENKEI_T_SKIP"] = "secret-for-tests"

    cli("run", "renkei.yaml", "--once")
    assert cli.json("status")["messages"] == {"sync": {"DEAD": 1, "QUEUED": 2, "SENT": 3}}
    (dead,) = cli.json("messages", "list", "--state", "DEAD")
    held = cli.json("messages", "list", "--state", "QUEUED")
    head = cli.json("messages", "show", str(dead["id"]))["deliveries"][0]
    for m in held:
        (d,) = cli.json("messages", "show", str(m["id"]))["deliveries"]
        assert d["state"] == "QUEUED" and d["last_error"] == f"held behind delivery {head['id']} (DEAD)"
        assert m["patient_id"] == dead["patient_id"]

    proc = cli("reprocess", "--skip", str(dead["id"]), "--config", "renkei.yaml")
    assert f"message {dead['id']}: 1 DEAD deliveries skipped" in proc.stdout

    assert cli.json("status")["messages"] == {"sync": {"DEAD": 1, "SENT": 5}}
    assert partner.accepted == 5
    head = cli.json("messages", "show", str(dead["id"]))["deliveries"][0]
    assert head["last_error"].startswith("skipped by operator: HttpPermanentError")
    assert cli("reprocess", "--skip", "--all", "--pipeline", "sync", ok=False).returncode == 2

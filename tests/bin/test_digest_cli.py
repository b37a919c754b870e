"""`renkei users contact` and `renkei digest send` as an operator runs them: a person sets their own
contact (or an admin does), a dry run says who would get what (numbers, no patient data), and a digest
that cannot reach the mail server is reported failed (exit 1), never recorded as sent."""

from __future__ import annotations

import socket
from pathlib import Path

from renkei.connectors.ssmix2.generator import generate

CONFIG = """
version: 1
connectors:
  ehr: {type: ssmix2, root: storage}
  timeline: {type: builtin, members: [nurse.sato]}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline]
    gates: {consent: false}  # this test is about digests; consent has its own tests
notifications:
  console_url: https://renkei.clinic.example.jp/
  email: {host: 127.0.0.1, port: PORT, security: starttls, sender: renkei@clinic.example.jp}
"""


def test_contact_then_dry_run_then_send_with_the_mail_server_down(cli, tmp_path: Path) -> None:
    written = generate(tmp_path / "storage", patients=2, labs_per_patient=1, seed=4)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "renkei.yaml").write_text(CONFIG.replace("PORT", str(port)), encoding="utf-8")
    assert cli.json("run", "renkei.yaml", "--once")["sync"]["sent"] == len(written)
    cli.act_as("nurse.sato", "nurse")

    own = cli("users", "contact", "nurse.sato", "--email", "sato@clinic.example.jp")
    assert own.stdout.strip() == "user nurse.sato: e-mail sato@clinic.example.jp, Matrix -, ja"
    refused = cli("users", "contact", "test.admin", "--email", "x@clinic.example.jp", "--as", "nurse.sato", ok=False)
    assert refused.returncode == 1 and "users.manage" not in refused.stderr and "admin" in refused.stderr
    bad = cli("users", "contact", "nurse.sato", "--email", "sato at clinic", ok=False)
    assert bad.returncode == 2 and "not an e-mail address" in bad.stderr

    dry = cli.json("digest", "send", "--config", "renkei.yaml", "--dry-run")
    assert dry["would_send"] == [{"user": "nurse.sato", "unread": 4, "unread_patients": 2, "waiting": 0}]
    assert dry["sent"] == []

    assert {"user": "nurse.sato", "channel": "matrix", "why": "no matrix contact"} in dry["skipped"]

    down = cli("digest", "send", "--config", "renkei.yaml", ok=False)
    assert down.returncode == 1
    assert f"failed: nurse.sato (email): SMTP 127.0.0.1:{port} unreachable (ConnectionRefusedError)" in down.stderr
    again = cli.json("digest", "send", "--config", "renkei.yaml", "--dry-run")  # not recorded: still due
    assert [w["user"] for w in again["would_send"]] == ["nurse.sato"]

"""`renkei users` and acting as a named user: the CLI applies the console's roles (approving needs the
physician role there too), and refusals are told and audited."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from renkei.pipelines.schema import MessageState, audit_log
from renkei.pipelines.store import Store

CONFIG = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  timeline: {{type: builtin}}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline]
    gates: {{consent: true, consent_scope: timeline, approval: {{required_for: [high]}}}}
"""


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text + "\n", encoding="utf-8")
    return str(path)


def _acting(cli, tmp_path: Path, password: str) -> None:
    cli.env["RENKEI_PASSWORD_FILE"] = _file(tmp_path, "acting-password", password)


def _held_lab(cli, tmp_path: Path) -> int:
    cli("ssmix2", "generate", str(tmp_path / "storage"), "--patients", "1")
    (tmp_path / "renkei.yaml").write_text(CONFIG.format(root=tmp_path / "storage"), encoding="utf-8")
    cli("run", str(tmp_path / "renkei.yaml"), "--once")
    (patient,) = {r["patient_id"] for r in cli.json("messages", "list")}
    cli("patients", "consent", patient, "--grant", "--scope", "all", "--date", "2026-04-01")
    cli("reprocess", "--all", "--pipeline", "sync")
    store = Store.in_data_dir(cli.env_data)
    try:
        held = store.list_messages(state=MessageState.AWAITING_APPROVAL)
    finally:
        store.close()
    assert held, "the lab results wait for a physician"
    return held[0].id


def _audit_rows(data: Path) -> list[tuple[str, str, str]]:
    store = Store.in_data_dir(data)
    try:
        with store.read() as conn:
            rows = conn.execute(sa.select(audit_log.c.actor, audit_log.c.action, audit_log.c.detail)).all()
    finally:
        store.close()
    return [tuple(r) for r in rows]


def test_approving_needs_the_physician_role_on_the_cli_too(cli, tmp_path: Path) -> None:
    mid = _held_lab(cli, tmp_path)
    # The first user of a data folder needs no --as; from then on an admin adds the others.
    cli("users", "add", "it.admin", "--role", "admin", "--password-file", _file(tmp_path, "a", "admin password 1"))
    _acting(cli, tmp_path, "admin password 1")
    cli("users", "add", "nurse.sato", "--role", "nurse", "--display-name", "看護師 佐藤", "--as", "it.admin",
        "--password-file", _file(tmp_path, "n", "nurse password 2"))  # fmt: skip
    cli("users", "add", "dr.tanaka", "--role", "physician", "--as", "it.admin",
        "--password-file", _file(tmp_path, "d", "doctor password 3"))  # fmt: skip

    _acting(cli, tmp_path, "nurse password 2")
    refused = cli("approvals", "approve", str(mid), "--as", "nurse.sato", ok=False)
    assert refused.returncode == 1
    assert "physician" in refused.stderr
    assert "Traceback" not in refused.stderr

    _acting(cli, tmp_path, "doctor password 3")
    approved = cli.json("approvals", "approve", str(mid), "--as", "dr.tanaka", "--note", "確認済み")
    assert approved == {"id": mid, "state": MessageState.SENT}

    users = {u["name"]: u["roles"] for u in cli.json("users", "list")}
    assert users == {"it.admin": ["admin"], "nurse.sato": ["nurse"], "dr.tanaka": ["physician"]}
    rows = _audit_rows(cli.env_data)
    assert ("nurse.sato", "access.refused", "approvals.decide cli") in rows
    assert ("dr.tanaka", "approval.approve", "確認済み") in rows


def test_adding_a_second_user_needs_an_admin(cli, tmp_path: Path) -> None:
    cli("users", "add", "it.admin", "--role", "admin", "--password-file", _file(tmp_path, "a", "admin password 1"))
    anonymous = cli("users", "add", "x", "--role", "admin", "--password-file", _file(tmp_path, "x", "x password 12"),
                    ok=False)  # fmt: skip
    assert anonymous.returncode == 1
    assert "--as" in anonymous.stderr


def test_a_wrong_password_is_refused_without_saying_whether_the_user_exists(cli, tmp_path: Path) -> None:
    cli("users", "add", "it.admin", "--role", "admin", "--password-file", _file(tmp_path, "a", "admin password 1"))
    _acting(cli, tmp_path, "not the password")
    wrong = cli("users", "disable", "it.admin", "--as", "it.admin", ok=False)
    unknown = cli("users", "disable", "it.admin", "--as", "nobody", ok=False)
    assert wrong.returncode == unknown.returncode == 1
    assert wrong.stderr == unknown.stderr

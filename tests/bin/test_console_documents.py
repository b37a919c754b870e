"""The console serves a timeline post's file for download: byte-equal to the source, audited, as a
download (never inline), only to users who may read timelines."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from support.documents import PID, write_referral_pdf

from renkei.bin.console import ConsoleSettings, build_app
from renkei.config.loader import load_config
from renkei.pipelines.engine import Engine
from renkei.pipelines.people import People
from renkei.pipelines.schema import audit_log
from renkei.pipelines.store import Store

CONFIG = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  timeline: {{type: builtin, members: [nurse.sato]}}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline]
    gates: {{consent: false}}
"""
PASSWORD = "correct horse battery"


@pytest.fixture
def console(tmp_path: Path):
    storage = tmp_path / "storage"
    pdf = write_referral_pdf(storage)
    (tmp_path / "renkei.yaml").write_text(CONFIG.format(root=storage), encoding="utf-8")
    data = tmp_path / "data"
    store = Store.in_data_dir(data)
    engine = Engine(load_config(tmp_path / "renkei.yaml"), store, data)
    assert engine.run_pipeline(engine.pipeline("sync")).sent == 1
    for name, roles in {"nurse.sato": ["nurse"], "it.admin": ["admin"]}.items():
        People(store).add(name, roles, PASSWORD, display_name=name)
    app = build_app(store, engine, data, ConsoleSettings(allowed_hosts=["127.0.0.1"], idle_timeout_seconds=60))
    yield app, store, pdf
    engine.close()
    store.close()


def _client(app, name: str | None) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    if name:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
        assert client.post("/login", data={"user": name, "password": PASSWORD, "csrf": token}).status_code == 303
    return client


def test_a_nurse_downloads_the_posted_pdf_byte_equal(console) -> None:
    app, store, pdf = console
    nurse = _client(app, "nurse.sato")
    page = nurse.get(f"/timelines/{PID}")
    assert page.status_code == 200
    (href,) = re.findall(r'href="(/timelines/[^"]+/files/\d+/0)"', page.text)
    assert "診療情報提供書.pdf" in page.text
    resp = nurse.get(href)
    assert resp.status_code == 200 and resp.content == pdf
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.headers["content-disposition"].startswith("attachment;")
    assert f"filename*=UTF-8''{quote('診療情報提供書.pdf')}" in resp.headers["content-disposition"]
    assert resp.headers["x-content-type-options"] == "nosniff"
    with store.read() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.actor, audit_log.c.patient_id).where(audit_log.c.action == "console.file_download")
        ).all()
    assert [tuple(r) for r in rows] == [("nurse.sato", PID)]
    assert nurse.get(href.replace("/0", "/1")).status_code == 404  # no second file on that post
    assert nurse.get(href.replace(PID, "0000001")).status_code == 404  # not that patient's post


def test_no_download_without_login(console) -> None:
    app, _store, _pdf = console
    resp = _client(app, None).get(f"/timelines/{PID}/files/1/0")
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")


def test_the_cli_saves_the_file_byte_equal(console, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from renkei.bin.cli import main

    _app, _store, pdf = console
    data = tmp_path / "data"
    shown = CliRunner().invoke(main, ["timeline", "show", PID, "--data", str(data)])
    assert shown.exit_code == 0 and f"[file 0] 診療情報提供書.pdf (application/pdf, {len(pdf)} bytes)" in shown.output
    out = tmp_path / "saved.pdf"
    result = CliRunner().invoke(main, ["timeline", "file", PID, "1", "0", "-o", str(out), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == pdf
    missing = CliRunner().invoke(main, ["timeline", "file", PID, "1", "5", "-o", str(out), "--data", str(data)])
    assert missing.exit_code == 1 and "no attachment 5 on post 1" in missing.output

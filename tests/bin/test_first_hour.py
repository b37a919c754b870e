"""A new user's first hour: messages instead of tracebacks, and the run says why nothing was delivered."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from click.testing import CliRunner

from renkei.bin.cli import main
from renkei.connectors.ssmix2.generator import generate

CONFIG = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: {root}}}
  timeline: {{type: builtin}}
{extra}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline{dests}]
"""


def _config(tmp_path: Path, root: str = "storage", extra: str = "", dests: str = "") -> Path:
    f = tmp_path / "renkei.yaml"
    f.write_text(CONFIG.format(root=root, extra=extra, dests=dests), encoding="utf-8")
    return f


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def test_a_missing_ssmix2_folder_is_reported_by_config_check_and_run(tmp_path: Path) -> None:
    cfg = _config(tmp_path, root="no-such-storage")
    check = _cli("config", "check", str(cfg), "--json")
    assert check.exit_code == 2
    errors = json.loads(check.stdout)["errors"]
    assert [e["path"] for e in errors] == ["connectors.ehr.root"]
    assert "SS-MIX2 folder" in errors[0]["error"] and "no-such-storage" in errors[0]["error"]
    run = _cli("run", str(cfg), "--once")
    assert run.exit_code == 2 and "Traceback" not in run.stdout + run.stderr
    assert "connectors.ehr.root: SS-MIX2 folder" in run.stderr


def test_the_service_logs_one_line_per_failed_run(tmp_path: Path, caplog) -> None:
    from renkei.config.loader import load_config
    from renkei.pipelines import scheduler
    from renkei.pipelines.engine import Engine
    from renkei.pipelines.store import Store

    root = tmp_path / "storage"
    generate(root, patients=1, labs_per_patient=1, seed=3)
    engine = Engine(load_config(_config(tmp_path)), Store.in_data_dir(tmp_path / "data"), tmp_path / "data")
    shutil.rmtree(root)  # the storage goes away (an unmounted share)
    try:
        with caplog.at_level(logging.INFO, logger="renkei"):
            scheduler._run_one(engine, "sync")
    finally:
        engine.close()
        engine.store.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    assert errors[0].getMessage().startswith("pipeline sync: run failed: ")


def test_a_missing_secret_file_fails_config_check_and_the_run_before_storing(tmp_path: Path) -> None:
    generate(tmp_path / "storage", patients=2, labs_per_patient=1, seed=3)
    extra = f"  hook: {{type: webhook, url: 'http://127.0.0.1:9/x', secret_file: {tmp_path / 'missing.secret'}}}"
    cfg = _config(tmp_path, extra=extra, dests=", hook")
    check = _cli("config", "check", str(cfg))
    assert check.exit_code == 2 and "connectors.hook.secret_file" in check.stderr
    run = _cli("run", str(cfg), "--once", "--data", str(tmp_path / "data"))
    assert run.exit_code == 2 and "missing.secret" in run.stderr
    assert not (tmp_path / "data" / "renkei.sqlite").exists()  # nothing stored


def test_the_first_run_without_consent_says_so_and_how_to_record_it(tmp_path: Path) -> None:
    generate(tmp_path / "storage", patients=3, labs_per_patient=1, seed=5)
    cfg = _config(tmp_path)
    run = _cli("run", str(cfg), "--once")
    assert run.exit_code == 0, run.stderr
    assert "sync: 3 patient(s) have no consent on record" in run.stdout
    assert "renkei patients consent ID --grant" in run.stdout and "renkei patients import FILE.csv" in run.stdout
    stats = json.loads(_cli("run", str(cfg), "--once", "--json").stdout)
    assert stats["sync"]["patients_without_consent"] == 3


def test_commands_honour_the_configs_data_dir(tmp_path: Path, monkeypatch) -> None:
    generate(tmp_path / "storage", patients=1, labs_per_patient=1, seed=5)
    cfg = _config(tmp_path, extra="data_dir: clinic-data")
    monkeypatch.delenv("RENKEI_DATA")
    monkeypatch.chdir(tmp_path / "storage")  # not where the data is
    assert _cli("run", str(cfg), "--once").exit_code == 0
    assert (tmp_path / "clinic-data" / "renkei.sqlite").exists()
    assert _cli("status").exit_code == 1  # ./renkei-data: nothing there, and said so
    monkeypatch.setenv("RENKEI_CONFIG", str(cfg))
    status = _cli("status", "--json")
    assert status.exit_code == 0, status.stderr
    assert Path(json.loads(status.stdout)["data_dir"]).resolve() == (tmp_path / "clinic-data").resolve()


def test_messages_list_says_when_it_stops_at_its_limit(tmp_path: Path) -> None:
    generate(tmp_path / "storage", patients=2, labs_per_patient=2, seed=5)
    assert _cli("run", str(_config(tmp_path)), "--once").exit_code == 0
    short = _cli("messages", "list", "--limit", "2", "--json")
    assert len(json.loads(short.stdout)) == 2
    assert "showing the newest 2; there are more: give --limit N" in short.stderr
    full = _cli("messages", "list", "--limit", "100", "--json")
    assert len(json.loads(full.stdout)) == 6 and "there are more" not in full.stderr


def test_bulk_reprocess_reports_a_summary(tmp_path: Path) -> None:
    generate(tmp_path / "storage", patients=2, labs_per_patient=2, seed=5)
    cfg = _config(tmp_path)
    assert _cli("run", str(cfg), "--once").exit_code == 0
    ids = [str(m["id"]) for m in json.loads(_cli("messages", "list", "--json").stdout)]
    out = _cli("reprocess", *ids)
    assert out.exit_code == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith(f"reprocessed {len(ids)} message(s): ")
    body = json.loads(_cli("reprocess", *ids, "--json").stdout)
    assert sum(body["summary"].values()) == len(ids) == body["reprocessed"]
    missing = _cli("reprocess", ids[0], "99999", "--json")
    assert missing.exit_code == 1 and json.loads(missing.stdout)["error"].startswith("no message 99999")


def test_ssmix2_check_exits_1_with_defects(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    written = generate(root, patients=1, labs_per_patient=1, seed=5)
    assert _cli("ssmix2", "check", str(root)).exit_code == 0
    (root / written[-1].key).write_bytes(b"")
    assert _cli("ssmix2", "check", str(root)).exit_code == 1

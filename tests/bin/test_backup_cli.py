"""`renkei backup DEST` while the store is being written, then `renkei restore SRC` into a fresh folder:
the copy is consistent (whole transactions only, the audit chain verifies) and complete (every database,
the timeline, the other files)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from renkei.connectors.builtin_timeline import SCHEMA as TIMELINE_SCHEMA
from renkei.pipelines.schema import SCHEMA as STORE_SCHEMA
from renkei.pipelines.store import Received, Store

STORE = STORE_SCHEMA.revision

BATCH = 5


def _keep_writing(data: Path, stop: threading.Event, first: threading.Event, written: list[int]) -> None:
    """Store batches of BATCH messages (each with its audit entries, one transaction) until stopped."""
    store = Store.in_data_dir(data)
    try:
        batch = 0
        while not stop.is_set() or batch == 0:
            items = [
                Received(f"w{batch}-{j}", f"fp{batch}-{j}", b"OBX|1|NM|8480-6^SBP||120|mm[Hg]" * 20)
                for j in range(BATCH)
            ]
            store.receive_many("writer", "bedside", items)
            batch += 1
            written[0] = batch * BATCH
            first.set()
    finally:
        store.close()


def test_backup_while_writing_restores_into_a_fresh_folder_with_a_verifiable_chain(cli, tmp_path: Path) -> None:
    cli("demo", "--once")
    original_groups = cli.json("timeline", "list")
    stop, first, written = threading.Event(), threading.Event(), [0]
    writer = threading.Thread(target=_keep_writing, args=(cli.env_data, stop, first, written))
    writer.start()
    try:
        assert first.wait(60)
        backup = cli.json("backup", str(tmp_path / "backup"))
        during = written[0]
    finally:
        stop.set()
        writer.join(60)
    assert not writer.is_alive()
    assert [d["file"] for d in backup["databases"]] == ["renkei.sqlite", "timeline.sqlite"]  # the store first
    assert {d["revision"] for d in backup["databases"]} == {STORE, TIMELINE_SCHEMA.revision}
    assert backup["store"] == "sqlite" and (tmp_path / "backup" / "last-config").exists()
    assert not list((tmp_path / "backup").glob("*-wal")) and not list((tmp_path / "backup").glob("*.lock"))

    restored = tmp_path / "restored"
    cli("restore", str(tmp_path / "backup"), "--data", str(restored))
    cli.env["RENKEI_DATA"] = str(restored)
    verified = cli.json("audit", "verify")
    assert verified["ok"] is True, verified
    counts = cli.json("status")["messages"]
    assert counts["ssmix2-to-timeline"] == {"SENT": 24}
    copied = counts["writer"]["RECEIVED"]
    # whole transactions only, none from after the backup (a batch may commit just before `during` is read)
    assert copied % BATCH == 0 and BATCH <= copied <= during + BATCH
    assert cli.json("timeline", "list") == original_groups
    assert {s["state"] for s in cli.json("db", "current")} == {"current"}


def test_backup_and_restore_refuse_to_overwrite(cli, tmp_path: Path) -> None:
    cli("demo", "--once")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "something").write_text("x")
    refused = cli("backup", str(tmp_path / "taken"), ok=False)
    assert refused.returncode == 1 and "is not empty" in refused.stderr
    cli("backup", str(tmp_path / "backup"))
    manifest = json.loads((tmp_path / "backup" / "renkei-backup.json").read_text())
    assert manifest["renkei"] and manifest["created_at"].endswith("Z")
    refused = cli("restore", str(tmp_path / "backup"), ok=False)  # into the folder it came from
    assert refused.returncode == 1 and "already holds renkei.sqlite" in refused.stderr
    refused = cli("restore", str(tmp_path / "taken"), "--data", str(tmp_path / "new"), ok=False)
    assert refused.returncode == 1 and "not a renkei backup" in refused.stderr and "Traceback" not in refused.stderr

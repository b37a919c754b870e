"""`renkei prune` as an operator runs it: dry run, prune, then `messages show` says what was pruned and when,
and `renkei reprocess` of a pruned message is refused (exit 1) with that reason."""

from __future__ import annotations

import re
from pathlib import Path

from renkei.connectors.ssmix2.generator import generate

CONFIG = """
version: 1
connectors:
  ehr: {type: ssmix2, root: storage}
  timeline: {type: builtin}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline]
    gates: {consent: false}  # this test is about retention; consent has its own tests
    retention: {raw_days: 30, payload_days: null}
"""


def test_prune_then_show_and_reprocess(cli, tmp_path: Path) -> None:
    written = generate(tmp_path / "storage", patients=2, labs_per_patient=1, seed=4)
    (tmp_path / "renkei.yaml").write_text(CONFIG, encoding="utf-8")
    assert cli.json("run", "renkei.yaml", "--once")["sync"]["sent"] == len(written) == 4

    assert cli.json("prune", "--dry-run")["messages"] == 0  # synced just now: within 30 days
    dry = cli.json("prune", "--dry-run", "--older-than", "0")
    assert (dry["dry_run"], dry["messages"], dry["payload_messages"]) == (True, 4, 4)
    mid = cli.json("messages", "list")[0]["id"]
    assert cli.json("messages", "show", str(mid))["raw_bytes"] > 100  # a dry run changed nothing

    done = cli.json("prune", "--older-than", "0")
    assert (done["messages"], done["raw_messages"], done["deliveries"], done["vacuumed"]) == (4, 4, 4, True)
    assert done["file_bytes_after"] < done["file_bytes_before"]

    shown = cli.json("messages", "show", str(mid), "--raw")
    assert shown["pruned"]["what"] == ["raw", "records", "payloads"]
    assert shown["raw_bytes"] == 0 and "raw" not in shown and shown["deliveries"][0]["receipt"]
    plain = cli("messages", "show", str(mid), "--raw").stdout
    assert re.search(r"raw, records, payloads pruned on \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 \(retention\)", plain)

    refused = cli("reprocess", str(mid), ok=False)
    assert refused.returncode == 1
    assert f"message {mid} cannot be reprocessed: raw, records, payloads pruned on" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert cli.json("messages", "show", str(mid))["state"] == "SENT"

    plain = cli("prune").stdout  # the configured limits: nothing left to prune
    assert plain.startswith("pruned: messages 0,")
    assert cli("audit", "verify").stdout.startswith("audit log intact:")  # exit 0: the chain holds

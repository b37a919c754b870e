"""`renkei timeline reply PATIENT TEXT --as MEMBER`: a member's reply, which builtin-replies takes back."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from renkei.bin.cli import main
from renkei.connectors.builtin_timeline import BuiltinTimeline


def test_a_member_replies_and_an_outsider_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tl = BuiltinTimeline.open(data, members=["nurse.sato"])
    gid = tl.ensure_group("P0042")
    tl.close()
    runner = CliRunner(env={"RENKEI_DATA": str(data)})
    ok = runner.invoke(main, ["timeline", "reply", "P0042", "BT 36.8 P 72", "--as", "nurse.sato", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output) == {"patient_id": "P0042", "post_id": "1", "member": "nurse.sato"}
    refused = runner.invoke(main, ["timeline", "reply", "P0042", "BT 39.0", "--as", "dr.stranger"])
    assert refused.exit_code == 1 and "not a member" in refused.output
    missing = runner.invoke(main, ["timeline", "reply", "P9999", "了解", "--as", "nurse.sato"])
    assert missing.exit_code == 1
    tl = BuiltinTimeline.open(data)
    posts = tl.read(gid)
    tl.close()
    assert [(p["author"], p["text"]) for p in posts] == [("nurse.sato", "BT 36.8 P 72")]

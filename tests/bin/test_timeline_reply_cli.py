"""`renkei timeline reply PATIENT TEXT --as USER`: a member's reply, which builtin-replies takes back. The
member is the authenticated renkei user: nobody replies in another's name, and a non-member is refused."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from renkei.bin.cli import main
from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.pipelines.people import People
from renkei.pipelines.store import Store

PASSWORD = "a long test password"


def test_a_member_replies_and_an_outsider_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tl = BuiltinTimeline.open(data, members=["nurse.sato"])
    gid = tl.ensure_group("P0042")
    tl.close()
    store = Store.in_data_dir(data)
    people = People(store)
    people.add("nurse.sato", ["nurse"], PASSWORD)
    people.add("dr.stranger", ["physician"], PASSWORD)
    people.add("auditor.ito", ["auditor"], PASSWORD)
    store.close()
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    runner = CliRunner(env={"RENKEI_DATA": str(data), "RENKEI_PASSWORD_FILE": str(secret)})

    ok = runner.invoke(main, ["timeline", "reply", "P0042", "BT 36.8 P 72", "--as", "nurse.sato", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output) == {"patient_id": "P0042", "post_id": "1", "member": "nurse.sato"}
    refused = runner.invoke(main, ["timeline", "reply", "P0042", "BT 39.0", "--as", "dr.stranger"])
    assert refused.exit_code == 1 and "not a member" in refused.output
    no_role = runner.invoke(main, ["timeline", "reply", "P0042", "了解", "--as", "auditor.ito"])
    assert no_role.exit_code == 1 and "care or nurse or physician" in no_role.output
    anonymous = runner.invoke(main, ["timeline", "reply", "P0042", "了解"])
    assert anonymous.exit_code == 1 and "--as USER" in anonymous.output
    secret.write_text("not the password\n", encoding="utf-8")
    wrong = runner.invoke(main, ["timeline", "reply", "P0042", "BT 39.0", "--as", "nurse.sato"])
    assert wrong.exit_code == 1
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    missing = runner.invoke(main, ["timeline", "reply", "P9999", "了解", "--as", "nurse.sato"])
    assert missing.exit_code == 1
    tl = BuiltinTimeline.open(data)
    posts = tl.read(gid)
    tl.close()
    assert [(p["author"], p["text"]) for p in posts] == [("nurse.sato", "BT 36.8 P 72")]

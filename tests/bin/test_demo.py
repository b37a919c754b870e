"""`renkei demo --once`, then the operator commands find what it did in the same data folder."""

from __future__ import annotations

from renkei.config.loader import DEFAULT_CONFIG
from renkei.connectors.ssmix2 import SSMIX2Source


def test_demo_posts_lab_summaries_that_status_and_timeline_show(cli) -> None:
    cli("demo", "--once")
    status = cli.json("status")
    sample = SSMIX2Source("s", SSMIX2Source.Settings(root=DEFAULT_CONFIG.parent / "samples" / "ssmix2"))
    files = list(sample.scan())
    assert status["messages"] == {"ssmix2-to-timeline": {"SENT": len(files)}}
    groups = cli.json("timeline", "list")
    assert len(groups) == len({f.group for f in files}) >= 5
    # Pick a shipped patient and check its lab posts against what the sample file really holds.
    lab_key = next(f.key for f in files if "/OML-11/" in f.key)
    parsed = sample.parse(lab_key, sample.read(lab_key))
    shown = cli.json("timeline", "show", parsed.patient_id)
    assert shown["members"] == ["cm.suzuki", "dr.tanaka", "nurse.sato", "renkei"]
    labs = [p["text"] for p in shown["posts"] if p["text"].startswith("【検査結果】")]
    first = parsed.records[0]
    matching = [t for t in labs if f"・{first.code.display}　{first.value} {first.unit}" in t]
    assert len(matching) == 1
    for obs in parsed.records:
        assert f"・{obs.code.display}　{obs.value} {obs.unit}" in matching[0]
    # The read was audited and the chain is intact.
    assert cli.json("audit", "verify")["ok"] is True


def test_second_demo_run_reads_nothing_new(cli) -> None:
    cli("demo", "--once")
    again = cli.json("demo", "--once")
    (stats,) = again.values()
    assert stats["received"] == 0 and stats["unchanged"] > 0 and stats["sent"] == 0

"""Bad input is QUARANTINED with a reason naming the file and the problem; the run goes on; after the
file is fixed, `renkei reprocess` picks it up."""

from __future__ import annotations

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
    gates: {consent: false}  # this test is about delivery mechanics; consent has its own tests
"""


def test_quarantine_then_reprocess_after_fix(cli, tmp_path: Path) -> None:
    root = tmp_path / "storage"
    written = generate(root, patients=3, labs_per_patient=2, seed=11)
    labs = [w.key for w in written if "/OML-11/" in w.key]
    good = {k: (root / k).read_bytes() for k in labs[:4]}
    empty, not_hl7, undecodable, truncated = labs[:4]
    (root / empty).write_bytes(b"")
    (root / not_hl7).write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    raw = good[undecodable]
    esc = raw.index(b"\x1b$B")  # first JIS X 0208 run: break it with bytes no JIS table has
    (root / undecodable).write_bytes(raw[: esc + 3] + b"\xff\xfe" + raw[esc + 5 :])
    # cut inside an OBX before OBX-11 (required), as a copy interrupted mid-write: evidence of truncation
    # (a cut exactly at a segment end leaves none and reads as the shorter message, docs/hl7v2.md)
    cut = good[truncated].index(b"|||F|", len(good[truncated]) // 2)
    (root / truncated).write_bytes(good[truncated][:cut])
    (tmp_path / "renkei.yaml").write_text(CONFIG, encoding="utf-8")

    stats = cli.json("run", "renkei.yaml", "--once")["sync"]
    assert (stats["received"], stats["quarantined"], stats["sent"]) == (len(written), 4, len(written) - 4)

    quarantined = {m["source_key"]: m for m in cli.json("messages", "list", "--state", "QUARANTINED")}
    assert set(quarantined) == {empty, not_hl7, undecodable, truncated}
    for key, kind in (
        (empty, "empty_file"),
        (not_hl7, "not_hl7"),
        (undecodable, "undecodable"),
        (truncated, "truncated"),
    ):
        reason = quarantined[key]["reason"]
        assert reason.startswith(f"{key}: ") and reason.endswith(f"[{kind}]"), reason
    assert "at byte" in quarantined[undecodable]["reason"]
    # Nothing of the bad files reached a timeline; everything else did.
    posts = sum(g["posts"] for g in cli.json("timeline", "list"))
    assert posts == len(written) - 4

    for key, content in good.items():
        (root / key).write_bytes(content)
    cli("reprocess", "--all", "--pipeline", "sync")
    assert cli.json("status")["messages"] == {"sync": {"SENT": len(written)}}
    assert sum(g["posts"] for g in cli.json("timeline", "list")) == len(written)
    # A later scheduled run sees the fixed files as changed, but posts nothing twice.
    again = cli.json("run", "renkei.yaml", "--once")["sync"]
    assert again["sent"] == 0
    assert sum(g["posts"] for g in cli.json("timeline", "list")) == len(written)

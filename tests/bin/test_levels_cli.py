"""Levels 1–3 as an operator runs them: `renkei render`, `renkei link`, `renkei push`, `renkei phrases`,
against a real store, engine and built-in timeline in a temporary folder. What reached the timeline is
checked on the timeline itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from renkei.bin.cli import main
from renkei.config.loader import DEFAULT_CONFIG
from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.connectors.ssmix2 import SSMIX2Source
from renkei.errors import NotFoundError
from renkei.mappings.phrases import load_phrases
from renkei.pipelines.schema import audit_log
from renkei.pipelines.store import Store

SAMPLES = DEFAULT_CONFIG.parent / "samples" / "ssmix2"
# A minimal but real PDF and PNG (bytes checked end to end).
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture
def site(cli, tmp_path: Path) -> Path:
    """A clinic config (sample SS-MIX2 -> built-in timeline, one viewer, a phrase overlay), run once."""
    phrases = tmp_path / "phrases"
    phrases.mkdir()
    (phrases / "clinic.yaml").write_text(
        "phrases:\n  - {id: lab-results, text: 採血の結果です（当院）。, tags: [検査結果]}\ntags: [口腔ケア]\n",
        encoding="utf-8",
    )
    cfg = tmp_path / "renkei.yaml"
    cfg.write_text(
        f"""version: 1
phrases_dir: phrases
connectors:
  hospital: {{type: ssmix2, root: {SAMPLES}}}
  timeline: {{type: builtin, members: [nurse.sato]}}
viewers:
  idlink: {{title: ID-LINK で見る, url_template: "https://viewer.example.jp/patient?pid={{viewer_id}}"}}
pipelines:
  - {{name: ehr, source: hospital, destinations: [timeline]}}
""",
        encoding="utf-8",
    )
    cli("run", str(cfg), "--once")  # no consent yet: everything is stored, nothing is posted
    return cfg


def lab_sample() -> tuple[str, list]:
    """The newest OML-11 file of the first sample patient, parsed independently of renkei's store."""
    source = SSMIX2Source("s", SSMIX2Source.Settings(root=SAMPLES))
    items = list(source.scan())
    pid = source.parse(items[0].key, source.read(items[0].key)).patient_id
    labs = sorted(i.key for i in items if "/OML-11/" in i.key and f"/{pid}/" in i.key)
    parsed = source.parse(labs[-1], source.read(labs[-1]))
    return pid, parsed.records


def timeline_posts(data: Path, person: str) -> list[dict]:
    tl = BuiltinTimeline.open(data)
    try:
        return tl.read(tl.group_for_patient(person))
    except NotFoundError:
        return []
    finally:
        tl.close()


def audit_actions(data: Path, person: str) -> list[tuple[str, str]]:
    store = Store.in_data_dir(data)
    try:
        with store.read() as conn:
            q = sa.select(audit_log.c.action, audit_log.c.detail).where(audit_log.c.patient_id == person)
            return [tuple(r) for r in conn.execute(q.order_by(audit_log.c.seq))]
    finally:
        store.close()


def test_push_without_consent_is_refused_and_nothing_reaches_the_timeline(cli, site: Path, tmp_path: Path) -> None:
    pid, _ = lab_sample()
    (tmp_path / "report.pdf").write_bytes(PDF)
    proc = cli("push", pid, "--to", "timeline", "--text", "本日訪問しました。", "--attach", "report.pdf", ok=False)
    assert proc.returncode == 1
    assert f"error: patient {pid} has no consent on record (gate: consent)" in proc.stderr
    assert timeline_posts(cli.env_data, pid) == []
    assert any(a == "gate.refused" and "no consent" in d for a, d in audit_actions(cli.env_data, pid))
    # Withdrawn consent refuses just the same.
    cli("patients", "consent", pid, "--withdraw", "--date", "2024-06-01")
    proc = cli("push", pid, "--to", "timeline", "--text", "x", ok=False)
    assert proc.returncode == 1 and "withdrew consent on 2024-06-01" in proc.stderr
    assert timeline_posts(cli.env_data, pid) == []


def test_push_with_consent_posts_once_with_attachments_intact(cli, site: Path, tmp_path: Path) -> None:
    pid, _ = lab_sample()
    (tmp_path / "報告書.pdf").write_bytes(PDF)
    (tmp_path / "wound.png").write_bytes(PNG)
    cli("patients", "consent", pid, "--grant", "--scope", "timeline", "--date", "2024-04-01")
    before = {p["id"] for p in timeline_posts(cli.env_data, pid)}
    out = cli.json(
        "push", pid, "--to", "timeline", "--phrase", "visit-nursing-result", "--text", "創部の写真を添付します。",
        "--tag", "褥瘡", "--attach", "報告書.pdf", "--attach", "wound.png", "--author", "nurse.sato",
    )  # fmt: skip
    assert out["state"] == "SENT" and out["attachments"] == ["報告書.pdf", "wound.png"]
    new = [p for p in timeline_posts(cli.env_data, pid) if p["id"] not in before]
    pushed = [p for p in new if "創部の写真" in p["text"]]
    assert len(pushed) == 1
    post = pushed[0]
    assert post["text"] == "訪問看護の結果は以下の通りです。\n創部の写真を添付します。"
    assert post["tags"] == ["褥瘡", "訪問看護", "バイタル"] and post["author"] == "nurse.sato"
    assert str(post["id"]) == out["receipt"]
    assert [(a["name"], a["media_type"], a["size"]) for a in post["attachments"]] == [
        ("報告書.pdf", "application/pdf", len(PDF)),
        ("wound.png", "image/png", len(PNG)),
    ]
    tl = BuiltinTimeline.open(cli.env_data)
    try:
        assert [tl.attachment_bytes(a["sha256"]) for a in post["attachments"]] == [PDF, PNG]
    finally:
        tl.close()
    # Running the pipelines again delivers nothing twice.
    cli("run", str(site), "--once")
    assert len([p for p in timeline_posts(cli.env_data, pid) if "創部の写真" in p["text"]]) == 1


def test_push_bad_input_exits_2_and_posts_nothing(cli, site: Path, tmp_path: Path) -> None:
    pid, _ = lab_sample()
    cli("patients", "consent", pid, "--grant", "--scope", "all", "--date", "2024-04-01")
    big = tmp_path / "scan.pdf"
    with big.open("wb") as f:
        f.truncate(21 * 1024 * 1024)  # sparse: no real 21 MB written
    (tmp_path / "tool.exe").write_bytes(b"MZ")
    (tmp_path / "noext").write_bytes(b"x")
    cases = [
        (["--text", "x", "--attach", "scan.pdf"], "scan.pdf is 21.0 MB; the limit is 20 MB per file"),
        (["--text", "x", "--attach", "tool.exe"], "attach PDFs, images"),
        (["--text", "x", "--attach", "noext"], "cannot tell the media type of noext"),
        (["--text", "x", "--attach", "missing.pdf"], "does not exist"),
        ([], "nothing to send"),
        (["--phrase", "no-such-phrase"], "no phrase 'no-such-phrase'"),
        (["--text", "x", "--tag", "two words"], "one word without spaces"),
    ]
    posts_before = len(timeline_posts(cli.env_data, pid))
    runner = CliRunner(env={"RENKEI_DATA": str(cli.env_data)})  # in-process: many cases, fast
    for extra, reason in cases:
        extra = [str(tmp_path / a) if a in ("scan.pdf", "tool.exe", "noext", "missing.pdf") else a for a in extra]
        result = runner.invoke(main, ["push", pid, "--to", "timeline", *extra])
        assert result.exit_code == 2, (extra, result.stderr)
        assert reason in result.stderr, (extra, result.stderr)
    unknown = cli("push", pid, "--to", "fax", "--text", "x", ok=False)
    assert unknown.returncode == 2 and "unknown destination 'fax'" in unknown.stderr
    assert len(timeline_posts(cli.env_data, pid)) == posts_before


def test_link_card_unlinked_then_linked(cli, site: Path) -> None:
    pid, _ = lab_sample()
    cli("patients", "consent", pid, "--grant", "--scope", "timeline", "--date", "2024-04-01")
    before = timeline_posts(cli.env_data, pid)
    proc = cli("link", pid, "--viewer", "idlink", "--to", "timeline", ok=False)
    assert proc.returncode == 1
    assert f"patient {pid} has no idlink id; link it first: renkei patients link {pid} --viewer idlink:ID" in (
        proc.stderr
    )
    assert timeline_posts(cli.env_data, pid) == before
    name = cli.json("patients", "show", pid)["patient"]["name_kanji"]
    cli("patients", "link", pid, "--viewer", "idlink:IDL-00042")
    out = cli.json("link", pid, "--viewer", "idlink", "--to", "timeline")
    assert out["state"] == "SENT"
    cards = [p for p in timeline_posts(cli.env_data, pid) if p["links"]]
    assert [c["links"] for c in cards] == [
        [{"title": "ID-LINK で見る", "url": "https://viewer.example.jp/patient?pid=IDL-00042"}]
    ]
    assert name and name not in json.dumps(cards, ensure_ascii=False)
    unknown = cli("link", pid, "--viewer", "humanbridge", "--to", "timeline", ok=False)
    assert unknown.returncode == 1 and "no viewer 'humanbridge'" in unknown.stderr


def test_render_prints_phrases_lab_summary_and_tags(cli, site: Path) -> None:
    pid, records = lab_sample()
    refused = cli("render", pid, "--template", "OML-11", ok=False)
    assert refused.returncode == 1 and "has no consent on record" in refused.stderr
    cli("patients", "consent", pid, "--grant", "--scope", "timeline", "--date", "2024-04-01")
    text = cli("render", pid, "--template", "OML-11", "--phrase", "lab-results", "--tag", "ACP", "--tag", "検査結果")
    lines = text.stdout.rstrip("\n").split("\n")
    assert lines[0] == "採血の結果です（当院）。"  # the site overlay's wording of the shipped id
    assert lines[1].startswith("【検査結果】")
    for obs in records:
        assert any(line.startswith(f"・{obs.code.display}　{obs.value} {obs.unit}") for line in lines), obs.code
    # The template already tags 検査結果; the chosen ACP follows, each tag once.
    assert lines[-2:] == ["□検査結果", "□ACP"]
    out = cli.json("render", pid, "--template", "OML-11")
    assert out["data_type"] == "OML-11" and out["text"].startswith("【検査結果】")
    reads = [d for a, d in audit_actions(cli.env_data, pid) if a == "render.read"]
    assert reads == ["template OML-11", "template OML-11"]
    assert cli.json("audit", "verify")["ok"] is True
    basics = cli("render", pid, "--template", "ADT-00")
    assert basics.stdout.startswith("【患者基本情報】")
    bad = cli("render", pid, "--template", "no-such-template", ok=False)
    assert bad.returncode == 2 and "template 'no-such-template' not found" in bad.stderr
    none = cli("render", "p-unknown", ok=False)
    assert none.returncode == 1 and "no consent" in none.stderr


def test_phrases_lists_shipped_and_site_phrases(cli, site: Path) -> None:
    listed = cli.json("phrases")
    ids = {p["id"]: p for p in listed["phrases"]}
    assert ids["lab-results"]["text"] == "採血の結果です（当院）。" and ids["lab-results"]["origin"] == "clinic.yaml:2"
    assert len(ids) == len(load_phrases())
    assert "口腔ケア" in listed["tags"] and listed["tags"][0] == "ACP"
    plain = cli("phrases").stdout
    assert "新しいケアプランです。" in plain and "□ACP □褥瘡" in plain


def test_commands_need_a_config_for_the_engine(cli, tmp_path: Path) -> None:
    env_data = tmp_path / "elsewhere"
    proc = cli("push", "p1", "--to", "timeline", "--text", "x", "--data", str(env_data), ok=False)
    assert proc.returncode == 1 and "no configuration has been run with data folder" in proc.stderr
    assert not os.path.exists(env_data / "timeline.sqlite")


def test_render_does_not_print_a_lab_result_awaiting_approval(cli, tmp_path: Path) -> None:
    """Held items stay held on every level: `render` shows nothing a physician has not yet approved."""
    pid, records = lab_sample()
    cfg = tmp_path / "renkei.yaml"
    cfg.write_text(
        f"""version: 1
connectors:
  hospital: {{type: ssmix2, root: {SAMPLES}}}
  timeline: {{type: builtin, members: [nurse.sato]}}
pipelines:
  - {{name: ehr, source: hospital, destinations: [timeline], gates: {{approval: {{required_for: [high]}}}}}}
""",
        encoding="utf-8",
    )
    cli("patients", "consent", pid, "--grant", "--scope", "timeline", "--date", "2024-04-01")
    cli("run", str(cfg), "--once")  # the lab results are held for a physician's approval
    held_ids = [m["id"] for m in cli.json("approvals", "list") if m["patient_id"] == pid]
    assert held_ids
    shown = cli("render", pid).stdout  # the latest that may be shown: the patient basics
    assert shown.startswith("【患者基本情報】")
    for obs in records:
        assert obs.code.display not in shown
    refused = cli("render", pid, "--template", "OML-11", "--data-type", "OML-11", ok=False)
    assert refused.returncode == 1 and refused.stdout == "" and "of type OML-11" in refused.stderr
    cli.act_as("dr.tanaka", "physician")
    for mid in held_ids:
        cli("approvals", "approve", str(mid), "--note", "checked")
    lines = cli("render", pid, "--template", "OML-11", "--data-type", "OML-11").stdout
    for obs in records:
        assert f"・{obs.code.display}　{obs.value} {obs.unit}" in lines

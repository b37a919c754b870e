"""`renkei patients …` as an operator runs it: linking, consent, show (names only there), list, unlink,
bad input (exit 2), refusals (exit 1), the audit trail, and a link card posted when a viewer id is linked."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from renkei.bin.cli import main
from renkei.config.loader import DEFAULT_CONFIG
from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.connectors.ssmix2 import SSMIX2Source
from renkei.pipelines.schema import audit_log
from renkei.pipelines.store import Store

SAMPLES = DEFAULT_CONFIG.parent / "samples" / "ssmix2"


def write_config(folder: Path) -> Path:
    path = folder / "renkei.yaml"
    path.write_text(
        f"""version: 1
connectors:
  hospital: {{type: ssmix2, root: {SAMPLES}}}
  timeline: {{type: builtin, members: [nurse.sato]}}
viewers:
  idlink: {{title: ID-LINK で見る, url_template: "https://viewer.example.jp/patient?pid={{viewer_id}}"}}
pipelines:
  - {{name: basics, source: hospital, destinations: [timeline], filters: {{data_types: [ADT-00]}}}}
""",
        encoding="utf-8",
    )
    return path


def sample_patient() -> tuple[str, str, str]:
    source = SSMIX2Source("s", SSMIX2Source.Settings(root=SAMPLES))
    key = next(i.key for i in source.scan() if "/ADT-00/" in i.key)
    (patient,) = [r for r in source.parse(key, source.read(key)).records if r.kind.value == "patient"]
    return patient.patient_id, patient.name_kanji, patient.name_kana


def audit_rows(data: Path, person: str) -> list[tuple[str, str, str]]:
    store = Store.in_data_dir(data)
    try:
        with store.read() as conn:
            q = sa.select(audit_log.c.action, audit_log.c.object, audit_log.c.detail).where(
                audit_log.c.patient_id == person
            )
            return [tuple(r) for r in conn.execute(q.order_by(audit_log.c.seq))]
    finally:
        store.close()


def test_link_consent_show_list_unlink(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    cli("run", str(cfg), "--once")  # stores the sample patients' basics
    pid, kanji, kana = sample_patient()
    linked = cli.json(
        "patients", "link", pid, "--ehr", f"hospital:{pid}", "--tag", "04A1B2C3D4E5F6", "--viewer", "idlink:IDL-1"
    )
    assert linked["identifiers"] == {"ehr:hospital": [pid], "tag": ["04A1B2C3D4E5F6"], "viewer:idlink": ["IDL-1"]}
    granted = cli.json("patients", "consent", pid, "--grant", "--scope", "timeline,lab", "--date", "2024-04-01")
    assert (granted["state"], granted["scope"], granted["consented_on"]) == (
        "granted",
        ["lab", "timeline"],
        "2024-04-01",
    )

    shown = cli.json("patients", "show", pid)
    assert shown["patient"]["name_kanji"] == kanji and shown["patient"]["name_kana"] == kana
    assert shown["consent"]["state"] == "granted" and shown["identifiers"]["tag"] == ["04A1B2C3D4E5F6"]
    text = cli("patients", "show", pid).stdout
    assert kanji in text and "consent: granted (lab, timeline) on 2024-04-01" in text

    listed = cli.json("patients", "list")
    assert [p["person_id"] for p in listed] == [pid]
    assert listed[0]["systems"] == ["ehr:hospital", "tag", "viewer:idlink"]
    plain = cli("patients", "list").stdout
    assert kanji not in plain and kana not in plain and pid in plain  # ids only in listings

    withdrawn = cli.json("patients", "consent", pid, "--withdraw", "--date", "2024-05-01")
    assert withdrawn["state"] == "withdrawn"
    gone = cli.json("patients", "unlink", pid, "--tag", "04A1B2C3D4E5F6")
    assert "tag" not in gone["identifiers"]
    again = cli("patients", "unlink", pid, "--tag", "04A1B2C3D4E5F6", ok=False)
    assert again.returncode == 1 and f"not linked to {pid}: tag 04A1B2C3D4E5F6" in again.stderr

    actions = [a for a, _, _ in audit_rows(cli.env_data, pid)]
    for wanted in ("registry.link", "registry.consent", "patient.show", "registry.unlink"):
        assert wanted in actions, wanted
    consents = [d for a, _, d in audit_rows(cli.env_data, pid) if a == "registry.consent"]
    assert consents == ["granted lab,timeline on 2024-04-01", "withdrawn all on 2024-05-01"]


def test_bad_input_exits_2_and_refusals_exit_1(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    cli("run", str(cfg), "--once")
    cases = [
        (["patients", "link", "山田太郎", "--tag", "T1"], "a person id is ASCII"),
        (["patients", "link", "p1"], "give at least one of"),
        (["patients", "link", "p1", "--ehr", "hospital"], "expected --ehr NAME:VALUE"),
        (["patients", "link", "p1", "--ehr", "nowhere:1"], "no connector 'nowhere'"),
        (["patients", "link", "p1", "--viewer", "hb:1"], "no viewer 'hb' in the configuration (viewers: idlink)"),
        (["patients", "link", "p1", "--viewer", "idlink:ヤマダ"], "an id, never a name"),
        (["patients", "consent", "p1", "--scope", "all", "--date", "2024-01-01"], "give --grant or --withdraw"),
        (["patients", "consent", "p1", "--grant", "--date", "2024-01-01"], "--grant needs --scope"),
        (["patients", "consent", "p1", "--grant", "--scope", "all", "--date", "1/2/2024"], "expected YYYY-MM-DD"),
        (["patients", "consent", "p1", "--grant", "--scope", "Lab Results", "--date", "2024-01-01"], "not a scope"),
    ]
    future = (date.today() + timedelta(days=2)).isoformat()
    cases.append((["patients", "consent", "p1", "--grant", "--scope", "all", "--date", future], "in the future"))
    runner = CliRunner(env={"RENKEI_DATA": str(cli.env_data)})  # in-process: many cases, fast
    for args, reason in cases:
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.stderr)
        assert reason in result.stderr, (args, result.stderr)
    # The same through the installed command, and a value that may be a name is never echoed.
    proc = cli("patients", "link", "p1", "--viewer", "idlink:ヤマダ", ok=False)
    assert proc.returncode == 2 and "never a name" in proc.stderr and "ヤマダ" not in proc.stderr
    # An identifier that already names someone else is refused, not moved.
    cli("patients", "link", "p1", "--tag", "T1")
    taken = cli("patients", "link", "p2", "--tag", "T1", ok=False)
    assert taken.returncode == 1 and "tag T1 is already linked to person p1" in taken.stderr
    missing = cli("patients", "show", "nobody", ok=False)
    assert missing.returncode == 1 and "no person nobody in the registry" in missing.stderr
    assert cli.json("patients", "list") == [
        {"person_id": "p1", "systems": ["tag"], "consent": None},
    ]


def test_linking_a_viewer_id_can_post_the_card_at_once(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    cli("run", str(cfg), "--once")
    pid, kanji, _ = sample_patient()
    # Without consent the card is refused (exit 1) but the link itself is kept.
    refused = cli("patients", "link", pid, "--viewer", "idlink:IDL-7", "--post-card", "timeline", ok=False)
    assert refused.returncode == 1 and f"patient {pid} has no consent on record" in refused.stderr
    assert cli.json("patients", "show", pid)["identifiers"] == {"viewer:idlink": ["IDL-7"]}
    cli("patients", "consent", pid, "--grant", "--scope", "all", "--date", "2024-04-01")
    out = cli.json("patients", "link", pid, "--viewer", "idlink:IDL-7", "--post-card", "timeline")
    assert [c["viewer"] for c in out["cards"]] == ["idlink"]
    tl = BuiltinTimeline.open(cli.env_data)
    try:
        posts = tl.read(tl.group_for_patient(pid))
    finally:
        tl.close()
    cards = [p for p in posts if p["links"]]
    assert len(cards) == 1
    assert cards[0]["links"] == [{"title": "ID-LINK で見る", "url": "https://viewer.example.jp/patient?pid=IDL-7"}]
    assert kanji not in cards[0]["text"]
    nocard = cli("patients", "link", pid, "--tag", "X", "--post-card", "timeline", ok=False)
    assert nocard.returncode == 2 and "give --viewer too" in nocard.stderr

"""`renkei patients team …` and `renkei timeline …` as an operator runs them: a team seeded from the
configuration, members added and removed (applied to the built-in timeline at once), a member leaving
every team in one command, posts for physicians only (set by a sensitivity rule) that a nurse never sees,
roles enforced (--as), and every change audited."""

from __future__ import annotations

from pathlib import Path

from renkei.config.loader import DEFAULT_CONFIG
from tests.bin.test_patients_cli import audit_rows, sample_patient

SAMPLES = DEFAULT_CONFIG.parent / "samples" / "ssmix2"


def _config(folder: Path) -> Path:
    path = folder / "renkei.yaml"
    path.write_text(
        f"""version: 1
connectors:
  hospital: {{type: ssmix2, root: {SAMPLES}}}
  timeline: {{type: builtin, members: [nurse.sato, dr.tanaka]}}
sensitivity:
  - {{level: low, data_types: [ADT-00], audience: 医師のみ}}
  - {{level: low}}
pipelines:
  - {{name: basics, source: hospital, destinations: [timeline], filters: {{data_types: [ADT-00]}}}}
""",
        encoding="utf-8",
    )
    return path


def _as(cli, name: str) -> None:
    secret = cli.cwd / f".password-{name}"
    cli.env.update(RENKEI_USER=name, RENKEI_PASSWORD_FILE=str(secret))


def test_teams_and_audiences_through_the_cli(cli, tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    pid, _kanji, _kana = sample_patient()
    cli.act_as("nurse.sato", "nurse")
    _as(cli, "test.admin")
    cli.act_as("cm.suzuki", "care")
    _as(cli, "test.admin")
    cli.act_as("dr.tanaka", "physician")
    cli("patients", "consent", pid, "--grant", "--scope", "timeline", "--date", "2024-04-01")
    cli("run", str(cfg), "--once")

    # the seed from the configuration, with roles from the users
    team = cli.json("patients", "team", pid, "list")
    assert team["members"] == [
        {"member": "dr.tanaka", "role": "physician", "seed": True},
        {"member": "nurse.sato", "role": "nurse", "seed": True},
    ]
    # the sensitivity rule made the ADT posts physicians-only: the nurse sees none of them
    doctor_view = cli.json("timeline", "show", pid, "--member", "dr.tanaka")
    assert doctor_view["posts"] and all(p["audience"] == "physicians" for p in doctor_view["posts"])
    assert cli.json("timeline", "show", pid, "--member", "nurse.sato")["posts"] == []
    assert cli.json("timeline", "show", pid)["posts"] == []  # without --member: whole-team posts only
    (nurse_group,) = cli.json("timeline", "list", "--member", "nurse.sato")
    assert (nurse_group["posts"], nurse_group["unread"]) == (0, 0)
    (doctor_group,) = cli.json("timeline", "list", "--member", "dr.tanaka")
    assert doctor_group["posts"] == len(doctor_view["posts"]) and doctor_group["unread"] == 0  # he read them

    # add: a care user joins as コメディカル, applied to the timeline at once
    added = cli.json("patients", "team", pid, "add", "cm.suzuki")
    assert added["role"] == "comedical"
    assert [(a["timeline"], a["done"]) for a in added["applied"]] == [("timeline", True)]
    assert cli.json("timeline", "show", pid, "--member", "cm.suzuki")["posts"] == []
    hospital = cli.json("patients", "team", pid, "add", "dr.kimura", "--role", "病院医師")
    assert hospital["role"] == "hospital_physician"
    assert len(cli.json("timeline", "show", pid, "--member", "dr.kimura")["posts"]) == len(doctor_view["posts"])

    # remove a seed member: out of this patient's group, refused on read
    removed = cli.json("patients", "team", pid, "remove", "nurse.sato")
    assert [(a["timeline"], a["done"]) for a in removed["applied"]] == [("timeline", True)]
    refused = cli("timeline", "show", pid, "--member", "nurse.sato", ok=False)
    assert refused.returncode == 1 and "not a member" in refused.stderr
    after = cli.json("patients", "team", pid, "list")
    assert [m["member"] for m in after["members"]] == ["cm.suzuki", "dr.kimura", "dr.tanaka"]
    assert after["removed"] == ["nurse.sato"]

    # a push for physicians only (MCS's 小部屋): the hospital physician reads it, the comedical member does not
    cli("push", pid, "--to", "timeline", "--text", "ご家族と予後の面談 5/3", "--audience", "医師のみ")
    assert "ご家族と予後の面談 5/3" in [
        p["text"] for p in cli.json("timeline", "show", pid, "--member", "dr.kimura")["posts"]
    ]
    assert cli.json("timeline", "show", pid, "--member", "cm.suzuki")["posts"] == []
    assert cli("push", pid, "--to", "timeline", "--text", "x", "--audience", "family", ok=False).returncode == 2

    # roles: a nurse may list but not change a team
    _as(cli, "nurse.sato")
    assert cli.json("patients", "team", pid, "list")["person_id"] == pid
    denied = cli("patients", "team", pid, "add", "x.y", "--role", "nurse", ok=False)
    assert denied.returncode == 1 and "admin or physician" in denied.stderr

    # a member leaving the organisation: out of every team in one command
    _as(cli, "test.admin")
    left = cli.json("patients", "team", "leave", "dr.tanaka")
    assert left["persons"] == [pid] and all(a["done"] for a in left["applied"])
    assert left["still_configured_on"] == ["timeline"]  # the operator is told to take him out of the config
    assert cli("timeline", "show", pid, "--member", "dr.tanaka", ok=False).returncode == 1
    assert cli.json("timeline", "list", "--member", "dr.tanaka") == []

    actions = [(a, d) for a, _o, d in audit_rows(cli.env_data, pid) if a.startswith("team.")]
    assert ("team.add", "cm.suzuki member") in actions  # no role stored: it follows the user's roles
    assert ("team.add", "dr.kimura member as hospital_physician") in actions
    assert ("team.remove", "nurse.sato removed") in actions
    assert ("team.leave", "dr.tanaka removed") in actions
    assert ("team.applied", "timeline: nurse.sato removed") in actions
    assert any(a == "team.read" for a, _ in actions)


def test_team_commands_refuse_bad_input(cli, tmp_path: Path) -> None:
    cli.act_as("dr.tanaka", "physician")
    bad = cli("patients", "team", "P1", "promote", "x", ok=False)
    assert bad.returncode == 2
    bad_member = cli("patients", "team", "P1", "add", "山田 花子", "--role", "nurse", ok=False)
    assert bad_member.returncode == 1 and "山田" not in bad_member.stderr  # never echoes what may be a name
    bad_role = cli("patients", "team", "P1", "add", "x.y", "--role", "family", ok=False)
    assert bad_role.returncode == 1 and "not a team role" in bad_role.stderr

"""`renkei db upgrade|current` on a data folder written by renkei 0.1.0 (tests/fixtures/data_v010: SQL
text dumped from that code's demo run, a device registry and Matrix/webhook ledgers), and the service's
refusal to start on it before the upgrade."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

from renkei.connectors.builtin_timeline import SCHEMA as TIMELINE_SCHEMA
from renkei.connectors.matrix._store import SCHEMA as MATRIX_SCHEMA
from renkei.devices.registry import SCHEMA as DEVICES_SCHEMA
from renkei.pipelines.schema import SCHEMA as STORE_SCHEMA

STORE = STORE_SCHEMA.revision

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "data_v010"
FILES = ["devices.sqlite", "matrix-care-sns.sqlite", "renkei.sqlite", "timeline.sqlite", "webhook-partner.sqlite"]


def load_v010(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for dump in sorted(FIXTURE.glob("*.sqlite.sql")):
        with closing(sqlite3.connect(folder / dump.name.removesuffix(".sql"))) as conn:
            conn.executescript(dump.read_text(encoding="utf-8"))


def table_rows(db: Path, columns: dict[str, list[str]] | None = None) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but Alembic's (only the given columns of a table, when named)."""
    with closing(sqlite3.connect(db)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        wanted = {n: ", ".join(f'"{c}"' for c in (columns or {}).get(n, ["*"])).replace('"*"', "*") for n in names}
        return {
            n: sorted(conn.execute(f'SELECT {wanted[n]} FROM "{n}"'), key=repr) for n in names if n != "alembic_version"
        }


def table_columns(db: Path) -> dict[str, list[str]]:
    with closing(sqlite3.connect(db)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: [c[1] for c in conn.execute(f'PRAGMA table_info("{n}")')] for n in names}


# Tables a later revision drops on purpose (their data moved or never used): devices_0002 drops the 0.1.0
# device registry's unused `patients`, and `wristbands` once the bedside has moved its rows to the registry.
DROPPED = {"devices.sqlite": {"patients", "wristbands"}}


def digests(folder: Path) -> dict[str, str]:
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in FILES}


def test_a_010_data_folder_is_refused_then_upgraded_with_its_data_intact(cli) -> None:
    data = cli.env_data
    load_v010(data)
    assert sorted(p.name for p in data.glob("*.sqlite")) == FILES
    before = {f: table_rows(data / f) for f in FILES}
    old_columns = {f: table_columns(data / f) for f in FILES}
    assert len(before["renkei.sqlite"]["messages"]) == 24 and len(before["timeline.sqlite"]["posts"]) == 24

    # The service and every command opening the store refuse, naming the command; no traceback.
    for args in (["demo", "--once"], ["status"]):
        refused = cli(*args, ok=False)
        assert refused.returncode == 2, refused.stderr
        assert "no schema version" in refused.stderr and "`renkei db upgrade`" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert {s["database"]: s["state"] for s in cli.json("db", "current")} == dict.fromkeys(FILES, "unversioned")

    upgraded = cli.json("db", "upgrade")
    assert {u["database"]: (u["from"], u["to"]) for u in upgraded} == {
        "renkei.sqlite": (None, STORE),
        "timeline.sqlite": (None, TIMELINE_SCHEMA.revision),
        "devices.sqlite": (None, DEVICES_SCHEMA.revision),
        "matrix-care-sns.sqlite": (None, MATRIX_SCHEMA.revision),
        "webhook-partner.sqlite": (None, "webhook_0001"),
    }
    after = {f: table_rows(data / f, old_columns[f]) for f in FILES}
    # every row of every 0.1.0 table unchanged (in its 0.1.0 columns); tables added since are there and empty
    kept = {
        f: {t: rows for t, rows in before[f].items() if t not in DROPPED.get(f, set()) or t in after[f]} for f in FILES
    }
    assert {f: {t: rows for t, rows in after[f].items() if t in before[f]} for f in FILES} == kept
    assert all(rows == [] for f in FILES for t, rows in after[f].items() if t not in before[f])
    assert {s["state"] for s in cli.json("db", "current")} == {"current"}

    # The data reads as it did: the audit chain verifies, the messages and the timeline are there.
    verified = cli.json("audit", "verify")
    assert verified["ok"] is True and verified["entries"] >= len(before["renkei.sqlite"]["audit_log"]) == 84
    assert cli.json("status")["messages"] == {"ssmix2-to-timeline": {"SENT": 24}}
    groups = cli.json("timeline", "list")
    assert len(groups) == len(before["timeline.sqlite"]["groups"]) == 6
    assert sum(g["posts"] for g in groups) == 24

    # The service starts on it and runs cleanly (the shipped sample files carry this checkout's mtimes, so
    # their fingerprints may differ from 0.1.0's and they may be read again: that is the source's rule).
    (stats,) = cli.json("demo", "--once").values()
    assert stats["received"] + stats["unchanged"] == 24 and stats["quarantined"] == stats["dead"] == 0
    assert stats["sent"] == stats["received"]
    assert cli.json("audit", "verify")["ok"] is True  # the chain goes on across the upgrade


def test_upgrade_on_a_current_data_folder_changes_nothing(cli) -> None:
    data = cli.env_data
    load_v010(data)
    cli("db", "upgrade")
    first = digests(data)
    again = cli.json("db", "upgrade")
    assert [(u["from"], u["to"], u["changed"]) for u in again] == [(u["to"], u["to"], False) for u in again]
    assert digests(data) == first  # not one byte written
    assert f"already at {STORE}" in cli("db", "upgrade").stdout


def test_a_new_data_folder_is_created_at_head(cli) -> None:
    cli("demo", "--once")
    states = {s["database"]: (s["revision"], s["state"]) for s in cli.json("db", "current")}
    assert states == {"renkei.sqlite": (STORE, "current"), "timeline.sqlite": (TIMELINE_SCHEMA.revision, "current")}


def test_db_commands_on_a_folder_without_data_say_so(cli) -> None:
    proc = cli("db", "upgrade", ok=False)
    assert proc.returncode == 1 and "no renkei data in" in proc.stderr and "Traceback" not in proc.stderr

"""generate_full writes every standard data type; every file reads back to exactly the records written,
with condition-flag histories, and `renkei ssmix2 check` finds nothing to report."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from renkei.bin.cmd_ssmix2 import ssmix2
from renkei.connectors.ssmix2 import SSMIX2Source
from renkei.connectors.ssmix2._naming import DATA_TYPES
from renkei.connectors.ssmix2.generator import ALL_TYPES, Written, generate_full, iter_full_storage
from renkei.records import Record

PATIENTS = 300


def comparable(records: list[Record]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.to_dict().items() if k not in ("source", "warnings")} for r in records]


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Written]]:
    root = tmp_path_factory.mktemp("full")
    return root, generate_full(root, patients=PATIENTS, seed=5, conditions=True)


def test_every_record_read_equals_what_was_written(storage: tuple[Path, list[Written]]) -> None:
    root, written = storage
    src = SSMIX2Source("full", SSMIX2Source.Settings(root=root))
    expected = {w.key: comparable(w.records) for w in written}
    seen = 0
    for item in src.scan():
        parsed = src.parse(item.key, src.read(item.key))
        assert parsed.warnings == [], item.key
        assert comparable(parsed.records) == expected[item.key], item.key
        assert all(r.source == item.key for r in parsed.records)
        seen += 1
    assert seen == len(written) == len(expected)


def test_storage_covers_every_data_type_record_kind_and_flag(storage: tuple[Path, list[Written]]) -> None:
    _, written = storage
    per_type = Counter(w.key.split("/")[4] for w in written)
    assert set(per_type) == set(DATA_TYPES) == set(ALL_TYPES)
    assert min(per_type.values()) >= PATIENTS
    kinds = {r.kind.value for w in written for r in w.records}
    assert kinds == {"patient", "encounter", "condition", "allergy", "medication", "observation", "order"}
    flags = Counter(w.key.rsplit("_", 1)[1] for w in written)
    # one update per patient (old `_2` + new `_1`), a delete for every second one (`_2` + `_0`)
    assert flags["0"] == PATIENTS // 2 and flags["2"] == PATIENTS + PATIENTS // 2
    statuses = Counter(r.status.value for w in written for r in w.records)
    assert statuses["superseded"] > 0 and statuses["deleted"] > 0 and statuses["current"] > statuses["superseded"]


def test_update_and_delete_share_the_record_keys_of_the_version_they_replace(
    storage: tuple[Path, list[Written]],
) -> None:
    _, written = storage
    by_name: dict[str, list[Written]] = {}
    for w in written:
        bits = w.key.rsplit("/", 1)[1].split("_")
        by_name.setdefault("_".join(bits[:4]), []).append(w)  # pid, date, type, order number
    histories = [ws for ws in by_name.values() if any(w.key.endswith(("_2", "_0")) for w in ws)]
    assert len(histories) >= PATIENTS
    for ws in histories:
        old = next(w for w in ws if w.key.endswith("_2"))
        new = next(w for w in ws if w.key.endswith(("_1", "_0")) and w.key.split("_")[-3] > old.key.split("_")[-3])
        assert [r.record_key for r in old.records] == [r.record_key for r in new.records], new.key


def test_check_reports_no_defect(storage: tuple[Path, list[Written]]) -> None:
    root, written = storage
    result = CliRunner().invoke(ssmix2, ["check", str(root), "--json"])
    assert result.exit_code == 0, result.output[:2000]
    summary = json.loads(result.output)
    assert summary["files"] == len(written) and summary["quarantined"] == 0 and summary["defects"] == []
    assert set(summary["by_data_type"]) == set(DATA_TYPES)


def test_generate_full_is_deterministic_and_per_patient(tmp_path: Path) -> None:
    a = list(iter_full_storage(4, seed=9, conditions=True))
    b = list(iter_full_storage(4, seed=9, conditions=True))
    assert [(k, d) for k, d, _ in a] == [(k, d) for k, d, _ in b]
    # patient streams are independent: a fifth patient leaves the first four unchanged
    c = list(iter_full_storage(5, seed=9, conditions=True))
    assert [(k, d) for k, d, _ in c[: len(a)]] == [(k, d) for k, d, _ in a]
    assert [k for k, _, _ in iter_full_storage(4, seed=10)] != [k for k, _, _ in iter_full_storage(4, seed=9)]


def test_types_selects_data_types_and_rejects_unknown_ones() -> None:
    keys = [k for k, _, _ in iter_full_storage(3, seed=1, types=["ADT-00", "OMP-12"])]
    assert {k.split("/")[4] for k in keys} == {"ADT-00", "OMP-12"} and len(keys) == 6
    with pytest.raises(ValueError, match="ORU-01"):
        list(iter_full_storage(1, types=["ORU-01"]))


def test_cli_generate_full_storage_and_bad_type(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["generate", str(tmp_path / "s"), "--patients", "3", "--seed", "2", "--types", "all"]
    result = runner.invoke(ssmix2, [*args, "--conditions", "--extended", "--json"])
    assert result.exit_code == 0, result.output
    expected = list(iter_full_storage(3, seed=2, labs_per_patient=3, conditions=True, extended=True))
    assert json.loads(result.output)["files"] == len(expected)
    assert all((tmp_path / "s" / key).read_bytes() == data for key, data, _ in expected)
    picked = runner.invoke(ssmix2, ["generate", str(tmp_path / "t"), "--patients", "2", "--types", "OMD,OMG-13"])
    assert picked.exit_code == 0 and {p.parent.name for p in (tmp_path / "t").rglob("*_1")} == {"OMD", "OMG-13"}
    bad = runner.invoke(ssmix2, ["generate", str(tmp_path / "u"), "--types", "ADT-00,ORU-01"])
    assert bad.exit_code == 2 and "unknown data types ORU-01" in bad.output

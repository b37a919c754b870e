"""renkei.db.chunked: the one helper behind every `IN (…)` query over many values."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from renkei.db import IN_CHUNK, chunked
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.store import Store


def test_chunked_slices_sequences_and_iterables_in_order() -> None:
    values = list(range(1234))
    chunks = list(chunked(values))
    assert [len(c) for c in chunks] == [IN_CHUNK, IN_CHUNK, 234]
    assert [v for c in chunks for v in c] == values
    assert list(chunked(iter("abcde"), 2)) == [["a", "b"], ["c", "d"], ["e"]]
    assert list(chunked([])) == []


def test_lookups_across_chunk_boundaries_find_every_row(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'renkei.sqlite'}")
    try:
        registry = PatientRegistry(store)
        persons = [f"P{i:05d}" for i in range(IN_CHUNK * 2 + 7)]
        registry.link_many("ehr:hospital", {f"H{p}": p for p in persons})
        for p in persons[IN_CHUNK - 1 : IN_CHUNK + 2]:
            registry.set_consent(p, True, ["timeline"], date(2026, 4, 1))
        found = registry.persons_of_patients("hospital", [f"H{p}" for p in persons])
        assert found == {f"H{p}": p for p in persons}
        assert sorted(registry.consents(persons)) == persons[IN_CHUNK - 1 : IN_CHUNK + 2]
    finally:
        store.close()

"""The generator's storage parses back to exactly the records it wrote, and scans in patient groups."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from renkei.connectors.ssmix2 import SSMIX2Source
from renkei.connectors.ssmix2.generator import Written, generate


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Written]]:
    root = tmp_path_factory.mktemp("gen")
    return root, generate(root, patients=300, labs_per_patient=3, seed=7)


def test_every_record_read_equals_what_was_written(storage: tuple[Path, list[Written]]) -> None:
    root, written = storage
    src = SSMIX2Source("gen", SSMIX2Source.Settings(root=root))
    expected = {w.key: [r.to_dict() for r in w.records] for w in written}
    seen = 0
    for item in src.scan():
        parsed = src.parse(item.key, src.read(item.key))
        assert parsed.warnings == [], item.key
        assert [r.to_dict() for r in parsed.records] == expected[item.key], item.key
        seen += 1
    assert seen == len(written) == 300 * 4
    kinds = {r.kind.value for w in written for r in w.records}
    assert kinds == {"patient", "observation"}


def test_scan_groups_are_consecutive_sorted_and_fingerprinted(storage: tuple[Path, list[Written]]) -> None:
    root, written = storage
    items = list(SSMIX2Source("gen", SSMIX2Source.Settings(root=root)).scan())
    keys = [i.key for i in items]
    assert keys == sorted(keys) and len(keys) == len(written)
    groups = [i.group for i in items]
    closed: set[str] = set()
    for prev, cur in itertools.pairwise(groups):
        if cur != prev:
            assert cur not in closed, "a patient's files must be consecutive"
            closed.add(prev)
    for item in items[:20]:
        assert item.group == "/".join(item.key.split("/")[:3])
        st = (root / item.key).stat()
        assert item.fingerprint == f"{st.st_mtime_ns}:{st.st_size}"


def test_generator_is_deterministic(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", patients=5, labs_per_patient=2, seed=3)
    b = generate(tmp_path / "b", patients=5, labs_per_patient=2, seed=3)
    assert [w.key for w in a] == [w.key for w in b]
    for w in a:
        assert (tmp_path / "a" / w.key).read_bytes() == (tmp_path / "b" / w.key).read_bytes()
    c = generate(tmp_path / "c", patients=5, labs_per_patient=2, seed=4)
    assert [w.key for w in c] != [w.key for w in a]

"""A run's parsing and transforming in a pool of processes gives exactly what one process gives."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from renkei.connectors.ssmix2.generator import generate
from renkei.pipelines import parallel
from renkei.pipelines.schema import deliveries, messages, patients


def _outcome(engine) -> dict[str, list]:
    """Everything a run decides, in id order: messages, deliveries (payloads and keys), patient basics,
    and the posts on the timeline."""
    with engine.store.read() as conn:
        msgs = conn.execute(
            sa.select(
                messages.c.id, messages.c.source_key, messages.c.state, messages.c.reason, messages.c.patient_id,
                messages.c.data_type, messages.c.warnings, messages.c.records,
            ).order_by(messages.c.id)
        ).all()  # fmt: skip
        dels = conn.execute(
            sa.select(
                deliveries.c.id, deliveries.c.message_id, deliveries.c.patient_id, deliveries.c.state,
                deliveries.c.idempotency_key, deliveries.c.payload,
            ).order_by(deliveries.c.id)
        ).all()  # fmt: skip
        basics = conn.execute(sa.select(patients.c.patient_id, patients.c.record).order_by(patients.c.patient_id)).all()
    timeline = engine.connector("timeline")
    pids = sorted({m.patient_id for m in msgs if m.patient_id})
    posts = {pid: [(p["text"], p["record_key"]) for p in timeline.read(timeline.group_for_patient(pid))]
             for pid in pids}
    return {"messages": [tuple(m) for m in msgs], "deliveries": [tuple(d) for d in dels], "patients": basics,
            "posts": posts}  # fmt: skip


def _run(tmp_path: Path, name: str, storage: Path, cores: int, make_engine_at, extra: str = "") -> dict[str, list]:
    engine = make_engine_at(tmp_path / name, storage, extra)
    engine.cores = cores
    stats = engine.run_pipeline(engine.pipeline("sync"))
    assert stats.received == stats.sent + stats.quarantined + stats.filtered
    return {"stats": (stats.received, stats.queued, stats.quarantined, stats.sent), **_outcome(engine)}


@pytest.fixture
def make_engine_at(store_url: str):
    """An engine in its own folder (config, data, SQLite store), so two runs can be compared."""
    from renkei.config.loader import load_config
    from renkei.pipelines.engine import Engine
    from renkei.pipelines.store import Store

    from .conftest import CONFIG

    engines = []

    def make(folder: Path, root: Path, extra: str = ""):
        folder.mkdir(parents=True)
        (folder / "renkei.yaml").write_text(CONFIG.format(root=root) + extra, encoding="utf-8")
        url = f"sqlite:///{folder / 'renkei.sqlite'}" if store_url.startswith("sqlite") else store_url
        engine = Engine(load_config(folder / "renkei.yaml"), Store(url), folder / "data")
        engines.append(engine)
        return engine

    yield make
    for e in engines:
        e.close()
        e.store.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("threads", [False, True], ids=["fork", "forkserver"])
def test_pool_gives_the_same_messages_deliveries_and_posts_as_one_process(
    tmp_path: Path, make_engine_at, monkeypatch: pytest.MonkeyPatch, threads: bool
) -> None:
    """`renkei run --once` (one thread) forks its pool; the service (threads) starts it from a forkserver."""
    if threads:
        monkeypatch.setattr(parallel.threading, "active_count", lambda: 3)
    storage = tmp_path / "storage"
    generate(storage, patients=24, labs_per_patient=3, seed=5)
    bad = storage / "000" / "000" / "0000009" / "20240101" / "OML-11"
    bad.mkdir(parents=True)
    (bad / "0000009_20240101_OML-11_1_20240101000000000_01_1").write_bytes(b"MSH|^~\\&|broken")
    monkeypatch.setattr(parallel, "CHUNK", 7)  # many chunks from a small storage
    one = _run(tmp_path, "one", storage, 1, make_engine_at)
    pooled = _run(tmp_path, "pooled", storage, 2, make_engine_at)
    assert one["stats"] == (97, 96, 1, 96)
    assert pooled == one


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_patient_split_across_chunks_still_renders_with_the_basics_saved_before(
    tmp_path: Path, make_engine_at, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks cut in the middle of patients: a later chunk handed out before the chunk with the patient's
    ADT was saved is re-processed by the run, so its posts show the same basics as in one process."""
    storage = tmp_path / "storage"
    generate(storage, patients=12, labs_per_patient=3, seed=9)
    site = tmp_path / "templates"
    site.mkdir()  # a site template that shows the patient basics an earlier ADT saved
    (site / "OML-11.j2").write_text("{{ data_type }} {{ patient | dictsort }}", encoding="utf-8")
    extra = f'templates_dir: "{site}"\n'

    def every_five(items, size):
        items = list(items)
        for i in range(0, len(items), 5):
            yield items[i : i + 5]

    monkeypatch.setattr(parallel, "CHUNK", 5)
    monkeypatch.setattr(parallel, "patient_chunks", every_five)
    redone = []
    real_results = parallel.ProcessPool.results

    def counting(self, wait_all, redo):
        def spy(rows, stats):
            redone.append(len(rows))
            return redo(rows, stats)

        return real_results(self, wait_all, spy)

    monkeypatch.setattr(parallel.ProcessPool, "results", counting)
    one = _run(tmp_path, "one", storage, 1, make_engine_at, extra)
    pooled = _run(tmp_path, "pooled", storage, 2, make_engine_at, extra)
    assert one["stats"][0] == 48
    lab_posts = [t for posts in one["posts"].values() for t, _ in posts if t.startswith("OML-11")]
    assert len(lab_posts) == 36 and all("patient_id" in t for t in lab_posts)  # the basics were there
    assert pooled == one
    assert redone  # some chunk came back with basics that changed since it was handed out
    assert pooled == one


def test_chunks_end_where_a_patient_folder_ends() -> None:
    from renkei.connectors.base import SourceItem

    items = [SourceItem(f"{g}/{i}", "f", g) for g in "aabbbcd" for i in range(1)]
    chunks = list(parallel.patient_chunks(items, 2))
    assert [[it.group for it in c] for c in chunks] == [["a", "a"], ["b", "b", "b"], ["c", "d"]]

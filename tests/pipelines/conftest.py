"""Engine fixtures: a real Store and BuiltinTimeline in a tmp data folder, fed by a real SS-MIX2 storage
written with the project's generator (or by hand-made files for the bad-input cases).

`store_url` is parametrised over both store backends: SQLite in the data folder, and a fresh database on
a real PostgreSQL server (`postgres`, session scope, see tests/support/postgres.py; those runs are marked
integration). Every test that builds its store through `store_url` or `make_engine` runs on both.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import postgres as postgres_support

from renkei.config.loader import load_config
from renkei.pipelines.engine import Engine
from renkei.pipelines.store import DB_FILE, Store

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[object]:
    """One real PostgreSQL server for the session (installed with apt on first use if missing)."""
    with postgres_support.start_postgres() as server:
        yield server


@pytest.fixture
def pg_url(postgres) -> str:
    """A fresh, empty database on the session's server, so tests never see each other's rows."""
    return postgres.create_database(f"renkei_t{next(_databases)}")


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data / DB_FILE}"


@pytest.fixture
def new_store(store_url: str) -> Iterator[Callable[[], Store]]:
    """A factory of Stores on `store_url`, all closed after the test (psycopg warns about open ones)."""
    stores: list[Store] = []

    def make() -> Store:
        stores.append(Store(store_url))
        return stores[-1]

    yield make
    for s in stores:
        s.close()


CONFIG = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  timeline: {{type: builtin, members: [nurse.sato]}}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline]
    gates: {{consent: false}}  # these tests are about delivery mechanics; consent has its own tests
    retry: {{max_attempts: 3, initial_backoff_seconds: 0.01, max_backoff_seconds: 0.05, jitter_seconds: 0}}
"""


@pytest.fixture
def make_engine(tmp_path: Path, store_url: str):
    engines: list[Engine] = []

    def make(root: Path, config_text: str = CONFIG) -> Engine:
        cfg = tmp_path / "renkei.yaml"
        cfg.write_text(config_text.format(root=root), encoding="utf-8")
        data = tmp_path / "data"
        data.mkdir(parents=True, exist_ok=True)
        engine = Engine(load_config(cfg), Store(store_url), data)
        engines.append(engine)
        return engine

    yield make
    for e in engines:
        e.close()
        e.store.close()

"""Engine fixtures: a real Store and BuiltinTimeline in a tmp data folder, fed by a real SS-MIX2 storage
written with the project's generator (or by hand-made files for the bad-input cases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from renkei.config.loader import load_config
from renkei.pipelines.engine import Engine
from renkei.pipelines.store import Store

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
def make_engine(tmp_path: Path):
    engines: list[Engine] = []

    def make(root: Path, config_text: str = CONFIG) -> Engine:
        cfg = tmp_path / "renkei.yaml"
        cfg.write_text(config_text.format(root=root), encoding="utf-8")
        data = tmp_path / "data"
        engine = Engine(load_config(cfg), Store.in_data_dir(data), data)
        engines.append(engine)
        return engine

    yield make
    for e in engines:
        e.close()
        e.store.close()

"""Fixtures for the MLLP tests: message factories, a real Engine + Store, a running listener."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from renkei.config.loader import load_config
from renkei.connectors.mllp import MLLPListener
from renkei.pipelines.engine import Engine
from renkei.pipelines.store import Store

CONFIG = """\
version: 1
connectors:
  feed:
    type: mllp
    host: 127.0.0.1
    port: 0
{extra}
  timeline:
    type: builtin
    members: [nurse.sato]
pipelines:
  - name: mllp-in
    source: feed
    destinations: [timeline]
    trigger: {{event: true}}
    gates: {{consent: false}}  # MLLP mechanics; consent has its own tests
"""


def adt(control_id: str, *, sender: str = "HIS", pid: str = "9999013", charset: str = "UNICODE UTF-8") -> str:
    """An ADT^A08 (patient basics) message; invented patient."""
    return (
        "\r".join(
            [
                f"MSH|^~\\&|{sender}|SEND|RENKEI|RCV|20240401090000||ADT^A08^ADT_A01|{control_id}|P|2.5||||||{charset}",
                "EVN||202404010900",
                f"PID|0001||{pid}^^^^PI||山田^花子^^^^^L^I~ヤマダ^ハナコ^^^^^L^P||19400312|F",
                "PV1|0001|O",
            ]
        )
        + "\r"
    )


def oul(control_id: str, *, sender: str = "LAB", pid: str = "9999013") -> str:
    """An OUL^R22 lab result with two OBX."""
    return (
        "\r".join(
            [
                f"MSH|^~\\&|{sender}|SEND|RENKEI|RCV|20240402100000||OUL^R22^OUL_R22|{control_id}|P|2.5"
                "||||||UNICODE UTF-8",
                f"PID|0001||{pid}^^^^PI||山田^花子||19400312|F",
                "PV1|0001|O",
                "SPM|1|123456789001||023^血清^JC10|||||||||||||202404020800",
                "OBR|1|123456789012345|123456789001|E001^検体検査^99O03|||202404020800",
                "ORC|SC|123456789012345|123456789001||CM",
                "OBX|1|NM|3A010000002327101^総蛋白^JC10||7.1|g/dL^g/dL^99XYZ|6.6-8.1|N|||F|||202404020800",
                "OBX|2|NM|5C070000002306001^CRP^JC10||0.31|mg/dL^mg/dL^99XYZ|0.00-0.14|H|||F|||202404020800",
            ]
        )
        + "\r"
    )


@pytest.fixture
def make_engine(tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """make_engine(extra_settings_yaml="") -> Engine on a fresh data folder (closed after the test)."""
    made: list[Engine] = []

    def make(extra: str = "", data: Path | None = None) -> Engine:
        folder = data or tmp_path / "data"
        cfg = tmp_path / "renkei.yaml"
        cfg.write_text(CONFIG.format(extra="\n".join(f"    {line}" for line in extra.splitlines())), encoding="utf-8")
        engine = Engine(load_config(cfg), Store.in_data_dir(folder), folder)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()
        engine.store.close()


@pytest.fixture
def running(make_engine: Callable[..., Engine]) -> Iterator[Callable[..., tuple[Engine, MLLPListener]]]:
    """running(extra_settings_yaml="") -> (engine, started listener feeding engine.ingest)."""
    started: list[MLLPListener] = []

    def start(extra: str = "") -> tuple[Engine, MLLPListener]:
        engine = make_engine(extra)
        listener: MLLPListener = engine.connector("feed")
        listener.start(lambda items: engine.ingest("mllp-in", items))
        started.append(listener)
        return engine, listener

    yield start
    for listener in started:
        listener.stop()


@pytest.fixture
def messages() -> object:
    class Messages:
        ADT = staticmethod(adt)
        OUL = staticmethod(oul)

    return Messages

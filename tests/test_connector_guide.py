"""docs/connectors.md is true: its two examples, installed as a plugin distribution would be (a module and
its .dist-info with entry points on sys.path), work through the real engine and the vendor decoder slot."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from renkei.config.loader import load_config
from renkei.connectors import registry
from renkei.connectors.base import TimelinePost
from renkei.devices import ndef_phdc
from renkei.devices.errors import DeviceCodecError
from renkei.devices.ndef_phdc import TNF_EXTERNAL, NdefRecord
from renkei.errors import RefusedError
from renkei.pipelines.engine import Engine
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.store import Store

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "connectors.md"


def _example(module: str) -> str:
    """The python block of the guide that starts with `# <module>.py`."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    (code,) = [b for b in blocks if b.startswith(f"# {module}.py")]
    return code


def _install(tmp_path: Path, module: str, group: str, entry: str) -> None:
    (tmp_path / f"{module}.py").write_text(_example(module), encoding="utf-8")
    info = tmp_path / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry}\n", encoding="utf-8")


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site"
    site.mkdir()
    _install(site, "renkei_jsonl_timeline", "renkei.connectors", "jsonl = renkei_jsonl_timeline:JsonlTimeline")
    _install(site, "acme_renkei_vendor", "renkei.device_decoders", "acme = acme_renkei_vendor:decode")
    monkeypatch.syspath_prepend(str(site))
    for cached in (registry._entry_points, ndef_phdc.vendor_decoders):
        cached.cache_clear()
    yield tmp_path
    for cached in (registry._entry_points, ndef_phdc.vendor_decoders):
        cached.cache_clear()
    for module in ("renkei_jsonl_timeline", "acme_renkei_vendor"):
        sys.modules.pop(module, None)


def test_the_guides_timeline_receives_posts_through_the_engine_once_and_gated(plugins: Path) -> None:
    config = plugins / "renkei.yaml"
    config.write_text(
        "version: 1\nconnectors:\n  family-board: {type: jsonl}\n  ehr: {type: ssmix2, root: /nonexistent}\n"
        "pipelines:\n  - {name: to-board, source: ehr, destinations: [family-board]}\n",
        encoding="utf-8",
    )
    data = plugins / "data"
    store = Store.in_data_dir(data)
    engine = Engine(load_config(config), store, data)
    try:
        PatientRegistry(store).set_consent("P100", True, ["all"], date(2026, 4, 1))
        post = TimelinePost(patient_id="P100", text="訪問看護: 血圧 128/76 mmHg", tags=["バイタル"])
        engine.push("family-board", post, actor="nurse.sato")
        with pytest.raises(RefusedError, match="no consent"):  # the gates stand before every connector
            engine.push("family-board", TimelinePost(patient_id="P200", text="同意なし"), actor="nurse.sato")
    except Exception:
        engine.close()
        store.close()
        raise
    board = engine.connector("family-board")
    try:
        (group,) = [p.stem for p in board.folder.glob("*.jsonl")]
        posts = board.read(group)
        assert [(p["text"], p["tags"]) for p in posts] == [("訪問看護: 血圧 128/76 mmHg", ["バイタル"])]
        engine.deliver_due()  # a second round posts nothing twice
        assert len(board.read(group)) == 1
    finally:
        engine.close()
        store.close()


def test_the_guides_vendor_decoder_reads_its_record_and_refuses_garbage(plugins: Path) -> None:
    record = NdefRecord(TNF_EXTERNAL, b"acme.example:bt", b"368")
    name, (obs,) = ndef_phdc.decode_vendor([record], "0123456789ABCDEF")
    assert name == "acme" and str(obs.value) == "36.8" and obs.device_id == "0123456789ABCDEF"
    with pytest.raises(DeviceCodecError, match="not ASCII digits"):
        ndef_phdc.decode_vendor([NdefRecord(TNF_EXTERNAL, b"acme.example:bt", b"3x8")], "0123456789ABCDEF")
    assert ndef_phdc.decode_vendor([NdefRecord(TNF_EXTERNAL, b"other.example:bt", b"368")], "X") is None

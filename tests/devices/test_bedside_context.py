"""What the bedside asks of the engine through ConnectorContext (pipelines/connector_services.py), and the
device/badge commands: the bedside never opens the store, and there is one list of wristbands."""

from __future__ import annotations

import ast
import json
import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from renkei.bin.cli import main
from renkei.config.loader import load_config
from renkei.devices.registry import DeviceRegistry
from renkei.pipelines.connector_services import NO_CONSENT, NO_TIMELINE, OUT_OF_SCOPE, WITHDRAWN
from renkei.pipelines.engine import Engine
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import patients
from renkei.pipelines.store import Store

ROOT = Path(__file__).resolve().parents[2]
BAND, OLD_BAND = "02FE000000000002", "02FE0000000000AB"


def _engine(tmp: Path, gates: str = "{}") -> Engine:
    cfg = tmp / "c.yaml"
    cfg.write_text(
        f"""version: 1
data_dir: {tmp}
timezone: Europe/Berlin
connectors:
  ward: {{type: bedside, wristbands: {{"02:fe:00:00:00:00:00:02": P001}}}}
  tl: {{type: builtin}}
pipelines:
  - {{name: p, source: ward, destinations: [tl], trigger: {{event: true}}, gates: {gates}}}
""",
        encoding="utf-8",
    )
    return Engine(load_config(cfg), Store.in_data_dir(tmp), tmp)


def test_bedside_modules_do_not_open_the_engine() -> None:
    for path in [ROOT / "connectors" / "bedside.py", *sorted((ROOT / "devices").glob("*.py"))]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(m.startswith("renkei.pipelines") for m in imported), path.name
        if path.parent.name == "devices":
            assert not any(m.startswith("renkei.connectors") for m in imported), path.name


def test_wristbands_live_in_the_patient_registry_and_the_context_names_the_patient(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    registry = PatientRegistry(engine.store)
    registry.set_consent("P001", True, ["all"], date(2026, 4, 1))
    with engine.store.write() as conn:
        record = {"kind": "patient", "patient_id": "P001", "name_kanji": "山田 太郎", "name_kana": "ヤマダ タロウ",
                  "birth_date": "1940-02-03"}  # fmt: skip
        conn.execute(patients.insert(), [{"patient_id": "P001", "record": record, "updated_at": time.time()}])
    ward = engine.connector("ward")
    try:
        assert registry.person_for("tag", BAND) == "P001"  # the config's wristband, written to the one list
        summary = ward.context.patient_for_tag(BAND)
        assert (summary.patient_id, summary.name_kanji, summary.name_kana, summary.birth_date) == (
            "P001", "山田 太郎", "ヤマダ タロウ", "1940-02-03",
        )  # fmt: skip
        assert summary.can_receive and summary.reason == ""
        assert ward.context.patient_for_tag("02FE0000000000FF") is None
        assert ward.context.timezone == "Europe/Berlin" and ward.tap_config.timezone == "Europe/Berlin"
        ward.context.publish({"code": "badge-accepted", "patient": {"id": "P001", "name_kanji": "山田 太郎"}})
        (line,) = (tmp_path / "tap-events.jsonl").read_text(encoding="utf-8").splitlines()
        assert json.loads(line)["patient"]["name_kanji"] == "山田 太郎"
    finally:
        engine.close()
        engine.store.close()


def test_can_receive_follows_the_gates_consent_rule_and_the_timeline_link(tmp_path: Path) -> None:
    engine = _engine(tmp_path, "{consent_scope: vitals, auto_link: false}")
    registry = PatientRegistry(engine.store)
    ward = engine.connector("ward")
    try:
        assert ward.context.patient_for_tag(BAND).reason == NO_CONSENT
        registry.set_consent("P001", True, ["lab"], date(2026, 4, 1))
        assert ward.context.patient_for_tag(BAND).reason == OUT_OF_SCOPE
        registry.set_consent("P001", False, ["vitals"], date(2026, 4, 2))
        assert ward.context.patient_for_tag(BAND).reason == WITHDRAWN
        registry.set_consent("P001", True, ["vitals"], date(2026, 4, 3))
        # the pipeline's scope, but not the destination's purpose (`timeline`): the delivery gate would refuse it
        assert ward.context.patient_for_tag(BAND).reason == OUT_OF_SCOPE
        # nor the data categories of a bedside post: the readings (vitals) and the note naming the nurse (notes)
        registry.set_consent("P001", True, ["vitals", "timeline"], date(2026, 4, 4))
        assert ward.context.patient_for_tag(BAND).reason == OUT_OF_SCOPE
        registry.set_consent("P001", True, ["vitals", "notes", "timeline"], date(2026, 4, 5))
        assert ward.context.patient_for_tag(BAND).reason == NO_TIMELINE  # groups are not created on demand
        registry.link("P001", "timeline:tl", "group-1")
        summary = ward.context.patient_for_tag(BAND)
        assert summary.can_receive and summary.reason == ""
    finally:
        engine.close()
        engine.store.close()


def test_old_second_wristband_table_moves_to_the_patient_registry(tmp_path: Path) -> None:
    DeviceRegistry(tmp_path).close()
    db = sa.create_engine(f"sqlite:///{tmp_path / 'devices.sqlite'}")
    with db.begin() as conn:  # the table as the 0.1 code made it
        conn.execute(sa.text("CREATE TABLE wristbands (tag_id VARCHAR(64) PRIMARY KEY, patient_id VARCHAR(64),"
                             " registered_at FLOAT)"))  # fmt: skip
        conn.execute(sa.text(f"INSERT INTO wristbands VALUES ('{OLD_BAND}', 'P555', 0)"))
    db.dispose()
    engine = _engine(tmp_path)
    try:
        engine.connector("ward")
        assert PatientRegistry(engine.store).person_for("tag", OLD_BAND) == "P555"
        assert DeviceRegistry(tmp_path).legacy_wristbands() == {}
    finally:
        engine.close()
        engine.store.close()


def test_devices_and_badges_commands(tmp_path: Path) -> None:
    data = str(tmp_path)
    registry = DeviceRegistry(tmp_path)
    registry.hold_pending("00:11:22:33:44:55:00:09", "thermometer")
    registry.add_badge("02FE000000000001", "nurse.sato")
    registry.close()
    runner = CliRunner()
    out = runner.invoke(main, ["devices", "pending", "--json", "--data", data])
    assert out.exit_code == 0 and json.loads(out.stdout) == [
        {"device_id": "0011223344550009", "specialization": "thermometer"}
    ]
    args = ["devices", "register", "0011223344550009", "--model", "TH-1", "--specialization", "thermometer"]
    assert runner.invoke(main, [*args, "--timezone", "Asia/Tokyo", "--data", data]).exit_code == 0
    assert "no device is waiting" in runner.invoke(main, ["devices", "pending", "--data", data]).stdout
    assert runner.invoke(main, ["devices", "retire", "0011223344550009", "--data", data]).exit_code == 0
    assert runner.invoke(main, ["devices", "retire", "FFFF", "--data", data]).exit_code != 0
    assert runner.invoke(main, ["badges", "revoke", "02:FE:00:00:00:00:00:01", "--data", data]).exit_code == 0
    assert runner.invoke(main, ["badges", "revoke", "02FE0000000000EE", "--data", data]).exit_code != 0
    registry = DeviceRegistry(tmp_path)
    try:
        device = registry.device("0011223344550009")
        assert (device.status, device.model, device.timezone) == ("retired", "TH-1", "Asia/Tokyo")
        assert registry.nurse_for_badge("02FE000000000001") is None and registry.badge("02FE000000000001").revoked
        registry.add_badge("02FE000000000001", "nurse.sato")  # config seeding does not re-enable a lost badge
        assert registry.nurse_for_badge("02FE000000000001") is None
    finally:
        registry.close()
    audit = runner.invoke(main, ["audit", "--data", data])
    assert "badge.revoke" in audit.stdout or audit.exit_code != 0


def test_devices_confirm_posts_a_held_reading(tmp_path: Path) -> None:
    from datetime import datetime

    from renkei.devices.readings import make_observation
    from renkei.devices.tap import TapConfig, TapSession

    engine = _engine(tmp_path, "{consent: false}")
    ward = engine.connector("ward")
    registry = DeviceRegistry(tmp_path)
    registry.add_badge("02FE000000000001", "nurse.sato")
    registry.add_device("0011223344550001", "BP", "blood-pressure")
    session = TapSession(
        registry, lambda items: engine.ingest("p", items), TapConfig(timezone="UTC"),
        patient_for_tag=ward.context.patient_for_tag,
    )  # fmt: skip
    now = datetime.now().replace(microsecond=0)
    assert session.tag("02FE000000000001").ok and session.tag(BAND).ok
    obs = [make_observation(c, v, 3872, effective=now) for c, v in ((18949, "250"), (18950, "250"))]
    held = session.reading("0011223344550001", obs)
    assert held.code == "reading-held" and engine.process_pending("p").quarantined == 1
    registry.close()
    engine.close()
    engine.store.close()
    args = ["devices", "confirm", str(held.message_ids[0]), "--nurse", "nurse.ito"]
    out = CliRunner().invoke(main, [*args, "--config", str(tmp_path / "c.yaml"), "--data", str(tmp_path)])
    assert out.exit_code == 0, out.output
    engine = _engine(tmp_path)
    try:
        timeline = engine.connector("tl")
        (post,) = timeline.read(timeline.group_for_patient("P001"))
        assert "血圧 250/250 mmHg" in post["text"] and "確認: nurse.ito" in post["text"]
    finally:
        engine.close()
        engine.store.close()


def test_the_simulator_stamps_device_times_in_the_site_zone_whatever_the_host_zone() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from renkei.devices.simulators.scenario import Scenario

    for zone in ("Asia/Tokyo", "UTC"):
        (device,) = Scenario(kind="bp", sequence=["device"], memory=2, tz=ZoneInfo(zone)).tags()
        memory = device.script.memory  # type: ignore[attr-defined]
        site_now = datetime.now(ZoneInfo(zone)).replace(tzinfo=None)
        assert abs((site_now - memory[-1].when).total_seconds()) < 5
        assert (memory[-1].when - memory[0].when).total_seconds() == 60


def test_an_unknown_device_time_zone_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    import pytest

    from renkei.errors import ConfigError

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"""version: 1
data_dir: {tmp_path}
connectors:
  ward: {{type: bedside, devices: {{"0011223344550001": {{model: BP, specialization: blood-pressure,
                                                       timezone: Mars/Olympus}}}}}}
  tl: {{type: builtin}}
pipelines:
  - {{name: p, source: ward, destinations: [tl], trigger: {{event: true}}}}
""",
        encoding="utf-8",
    )
    engine = Engine(load_config(cfg), Store.in_data_dir(tmp_path), tmp_path)
    try:
        with pytest.raises(ConfigError) as err:
            engine.connector("ward")
        assert err.value.errors[0][0] == "connectors.ward.devices.0011223344550001.timezone"
    finally:
        engine.close()
        engine.store.close()

"""Bedside tap session rules with a real device registry and the real engine store as `ingest`."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from renkei.config.loader import load_config
from renkei.connectors.bedside import parse_tap_record
from renkei.devices.ndef_phdc import text_record
from renkei.devices.readings import make_observation
from renkei.devices.registry import DeviceRegistry
from renkei.devices.tap import TapConfig, TapSession
from renkei.pipelines.engine import Engine
from renkei.pipelines.store import Store
from renkei.records import Observation

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2024, 5, 1, 7, 35, tzinfo=TOKYO)
BADGE, BAND, CARD, DEVICE = "02FE000000000001", "02FE000000000002", "0123456789ABCD", "0011223344550001"


class Clock:
    def __init__(self) -> None:
        self.t = NOW.timestamp()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"version: 1\ndata_dir: {tmp_path}\nconnectors:\n  ward: {{type: bedside}}\n  tl: {{type: builtin}}\n"
        "pipelines:\n  - {name: p, source: ward, destinations: [tl], trigger: {event: true},\n"
        "     gates: {consent: false}}\n",
        encoding="utf-8",
    )
    store = Store.in_data_dir(tmp_path)
    engine = Engine(load_config(cfg), store, tmp_path)
    reg = DeviceRegistry(tmp_path / "reg")
    reg.add_badge(BADGE, "nurse.sato")
    reg.add_wristband(BAND, "P001")
    reg.add_patient("P003")
    reg.add_device(DEVICE, "BP-1", "blood-pressure")
    clock = Clock()
    session = TapSession(reg, lambda items: engine.ingest("p", items), TapConfig(), clock=clock)
    yield session, clock, engine, store
    engine.close()
    store.close()
    reg.close()


def bp(sys_: str = "128", when: datetime | None = datetime(2024, 5, 1, 7, 30)) -> list[Observation]:
    return [
        make_observation(18949, sys_, 3872, effective=when, device_id=DEVICE),
        make_observation(18950, "82", 3872, effective=when, device_id=DEVICE),
        make_observation(18474, "72", 2720, effective=when, device_id=DEVICE),
    ]


def test_happy_path_stores_one_message_with_patient_keys_and_offset(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, engine, store = env
    assert session.tag(BADGE).code == "badge-accepted"
    assert session.tag(BAND).code == "wristband-accepted"
    out = session.reading(DEVICE, bp())
    assert out.ok and out.code == "reading-stored" and out.stored == 1 and out.patient_id == "P001"
    msg, _ = store.get_message(out.message_ids[0])
    parsed = parse_tap_record(msg.source_key, msg.raw)
    assert parsed.patient_id == "P001" and parsed.data_type == "VITALS"
    assert [(o.code.code, o.value, o.patient_id) for o in parsed.records] == [
        ("18949", "128", "P001"), ("18950", "82", "P001"), ("18474", "72", "P001"),
    ]  # fmt: skip
    assert all(o.effective == datetime(2024, 5, 1, 7, 30, tzinfo=TOKYO) for o in parsed.records)
    assert all(len(o.record_key) == 32 and o.flags == [] for o in parsed.records)
    assert engine.process_pending("p").sent == 1


def test_wrong_order_posts_nothing(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, engine, _store = env
    assert session.reading(DEVICE, bp()).message.startswith("看護師バッジを先に")
    assert session.tag(BAND).code == "badge-first"
    session.tag(BADGE)
    out = session.reading(DEVICE, bp())
    assert (out.ok, out.code) == (False, "wristband-first")
    assert out.message == "患者リストバンドを先にタッチしてください / Tap the patient's wristband first"
    assert session.admit_device(DEVICE).startswith("患者リストバンドを先に")
    assert engine.process_pending("p").sent == 0


def test_expired_window(env) -> None:  # type: ignore[no-untyped-def]
    session, clock, _engine, _store = env
    session.tag(BADGE)
    clock.t += 121
    assert session.tag(BAND).code == "expired"
    session.tag(BADGE)
    session.tag(BAND)
    clock.t += 119
    assert session.admit_device(DEVICE) == ""
    clock.t += 2
    out = session.reading(DEVICE, bp())
    assert (out.ok, out.code, out.stored) == (False, "expired", 0)
    assert session.patient_id == "" and session.nurse_id == ""  # start again from the badge


def test_unknown_patient_badge_and_device(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, _engine, _store = env
    assert session.tag("AAAAAAAAAAAAAAAA").code == "unknown-badge"
    session.tag(BADGE)
    assert session.tag("AAAAAAAAAAAAAAAA").code == "unknown-patient"
    # a card naming an unregistered patient is refused; a registered one is accepted by its record
    assert session.tag(CARD, [text_record("renkei:patient:P404")]).code == "unknown-patient"
    assert session.tag(CARD, [text_record("renkei:patient:P003")]).patient_id == "P003"
    out = session.reading("FFFFFFFFFFFFFFFF", bp())
    assert (out.ok, out.code) == (False, "unknown-device")
    assert "not registered" in session.admit_device("FFFFFFFFFFFFFFFF")


def test_plausibility_flags_but_keeps_and_clock_offset_flagged(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, _engine, store = env
    session.tag(BADGE)
    session.tag(BAND)
    out = session.reading(DEVICE, bp("300", when=datetime(2024, 5, 1, 6, 0)))  # 95 min before the gateway
    assert out.ok and out.stored == 1
    msg, _ = store.get_message(out.message_ids[0])
    parsed = parse_tap_record(msg.source_key, msg.raw)
    flags = {o.code.code: o.flags for o in parsed.records}
    assert flags["18949"] == ["clock_offset", "implausible"]
    assert flags["18950"] == ["clock_offset"]
    assert parsed.warnings == ["device clock differs from the gateway by -5700 s"]


def test_future_reading_rejected(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, engine, _store = env
    session.tag(BADGE)
    session.tag(BAND)
    out = session.reading(DEVICE, bp(when=datetime(2024, 5, 1, 7, 40)))  # 5 min ahead of the gateway
    assert (out.ok, out.code, out.rejected) == (False, "future-reading", 3)
    ok = session.reading(DEVICE, bp(when=(NOW + timedelta(seconds=30)).replace(tzinfo=None)))  # within tolerance
    assert ok.ok and ok.stored == 1
    assert engine.process_pending("p").sent == 1


def test_repeated_tap_and_resent_memory_store_once(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, engine, _store = env
    session.tag(BADGE)
    session.tag(BAND)
    first = session.reading(DEVICE, bp())
    again = session.reading(DEVICE, bp())
    assert (again.ok, again.code, again.stored, again.duplicates) == (True, "reading-duplicate", 0, 1)
    assert again.message_ids == first.message_ids
    # the device resends its memory plus a new measurement: only the new one is stored
    newer = bp("131", when=datetime(2024, 5, 1, 7, 33))
    out = session.reading(DEVICE, bp() + newer)
    assert (out.stored, out.duplicates) == (1, 1)
    assert engine.process_pending("p").sent == 2


def test_reading_without_device_time_is_scoped_to_the_wristband_tap(env) -> None:  # type: ignore[no-untyped-def]
    """A scale prints no time: a resend within one tap is a duplicate, the same weight at the next visit is new."""
    session, clock, engine, store = env
    weight = [make_observation(57664, "52.4", 1731, effective=None, device_id=DEVICE)]
    session.tag(BADGE)
    session.tag(BAND)
    first = session.reading(DEVICE, weight)
    assert (first.code, first.stored) == ("reading-stored", 1)
    assert session.reading(DEVICE, weight).code == "reading-duplicate"
    clock.t += 86400  # the next day's visit
    session.tag(BADGE)
    session.tag(BAND)
    second = session.reading(DEVICE, weight)
    assert (second.code, second.stored) == ("reading-stored", 1)
    msg, _ = store.get_message(second.message_ids[0])
    (obs,) = parse_tap_record(msg.source_key, msg.raw).records
    assert obs.flags == ["no_device_time"] and obs.effective == datetime.fromtimestamp(clock.t, TOKYO)
    assert engine.process_pending("p").sent == 2


def test_a_wristband_linked_in_the_patient_registry_works_at_the_bedside(tmp_path: Path) -> None:
    """`renkei patients link P --tag ID` and the bedside share one list of wristbands."""
    from renkei.devices.registry import DeviceRegistry
    from renkei.pipelines.registry import PatientRegistry

    store = Store.in_data_dir(tmp_path / "data")
    people = PatientRegistry(store)
    people.link("P777", "tag", "02FE0000000000AA")
    reg, alone = DeviceRegistry(tmp_path / "reg", people), DeviceRegistry(tmp_path / "reg2")
    try:
        assert reg.patient_for_tag("02:fe:00:00:00:00:00:aa") == "P777"
        assert reg.is_patient("P777") and not reg.is_patient("P778")
        assert alone.patient_for_tag("02FE0000000000AA") is None  # without the patient registry: unknown
    finally:
        reg.close()
        alone.close()
        store.close()

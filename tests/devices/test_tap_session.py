"""Bedside tap session rules (docs/bedside.md) with a real device registry and the real engine store as `ingest`;
the patient lookup is what the engine's ConnectorContext answers (tests/devices/tap_support.py)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from tap_support import Patients, Person

from renkei.config.loader import load_config
from renkei.connectors.bedside import parse_tap_record
from renkei.devices.ndef_phdc import text_record
from renkei.devices.readings import make_observation
from renkei.devices.registry import DeviceRegistry
from renkei.devices.tap import TapConfig
from renkei.devices.tap_rules import REASONS
from renkei.pipelines.engine import Engine
from renkei.pipelines.store import Store
from renkei.records import Observation

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2024, 5, 1, 7, 35, tzinfo=TOKYO)
BADGE, BAND, CARD, DEVICE = "02FE000000000001", "02FE000000000002", "0123456789ABCD", "0011223344550001"
BAND2, BAND9, CARD3, UNKNOWN = "02FE000000000022", "02FE000000000099", "02FE0000000000C3", "AAAAAAAAAAAAAAAA"


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
    reg.add_device(DEVICE, "BP-1", "blood-pressure")
    clock = Clock()
    people = {
        "P001": Person("P001", "山田 太郎", "ヤマダ タロウ"),
        "P002": Person("P002", "佐藤 花子", "サトウ ハナコ"),
        "P009": Person("P009", can_receive=False, reason="同意が記録されていません / No consent on record"),
    }
    patients = Patients({BAND: "P001", BAND2: "P002", BAND9: "P009", CARD3: "P003"}, people)
    session = patients.session(reg, lambda items: engine.ingest("p", items), config=TapConfig(), clock=clock)
    yield session, clock, engine, store
    engine.close()
    store.close()
    reg.close()


def bp(
    sys_: str = "128", when: datetime | None = datetime(2024, 5, 1, 7, 35), dia: str = "82", unit: int = 3872
) -> list[Observation]:
    return [
        make_observation(18949, sys_, unit, effective=when, device_id=DEVICE),
        make_observation(18950, dia, unit, effective=when, device_id=DEVICE),
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
    assert [(o.code.code, o.value, o.patient_id) for o in parsed.records[:3]] == [
        ("18949", "128", "P001"), ("18950", "82", "P001"), ("18474", "72", "P001"),
    ]  # fmt: skip
    assert all(o.effective == datetime(2024, 5, 1, 7, 35, tzinfo=TOKYO) for o in parsed.records[:3])
    assert all(len(o.record_key) == 32 and o.flags == [] for o in parsed.records[:3])
    assert parsed.records[3].author == "nurse.sato"  # the post names the nurse who measured
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


# -- session rules --------------------------------------------------------------------------------------------
def test_a_refused_wristband_ends_the_patient_session_never_falls_back(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, engine, _store = env
    session.tag(BADGE)
    assert session.tag(BAND).patient_id == "P001"
    refused = session.tag(UNKNOWN)
    assert (refused.ok, refused.code, refused.signal) == (False, "unknown-patient", "refusal")
    assert "no patient is selected now" in refused.message and session.patient_id == ""
    out = session.reading(DEVICE, bp())
    assert (out.ok, out.code, out.stored, out.patient_id) == (False, "wristband-first", 0, "")
    assert engine.process_pending("p").sent == 0


def test_a_patient_who_cannot_receive_is_refused_at_the_wristband_with_the_reason(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, engine, _store = env
    session.tag(BADGE)
    session.tag(BAND)
    out = session.tag(BAND9)
    assert (out.ok, out.code, out.patient_id) == (False, "patient-cannot-receive", "P009")
    assert out.reasons == ["同意が記録されていません / No consent on record"]
    assert out.event()["message"]["en"] == "This patient cannot receive posts: do not measure"
    assert session.admit_device(DEVICE).startswith("患者リストバンドを先に")  # before any reading is taken
    assert engine.process_pending("p").sent == 0


def test_a_switch_of_patient_is_announced_with_names(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, _engine, _store = env
    session.tag(BADGE)
    first = session.tag(BAND)
    assert (first.code, first.patient_name_kanji, first.patient_name_kana) == (
        "wristband-accepted", "山田 太郎", "ヤマダ タロウ",
    )  # fmt: skip
    switched = session.tag(BAND2)
    assert (switched.ok, switched.code, switched.patient_id) == (True, "patient-switched", "P002")
    event = switched.event()
    assert event["patient"] == {"id": "P002", "name_kanji": "佐藤 花子", "name_kana": "サトウ ハナコ"}
    assert event["message"]["ja"].startswith("患者が切り替わりました") and event["nurse_id"] == "nurse.sato"
    assert session.reading(DEVICE, bp()).patient_id == "P002"


def test_revoked_badge_is_refused_and_ends_the_session(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, _engine, _store = env
    session.tag(BADGE)
    session.tag(BAND)
    assert session.registry.revoke_badge(BADGE)
    out = session.tag(BADGE)
    assert (out.ok, out.code, out.nurse_id) == (False, "badge-revoked", "")
    assert session.reading(DEVICE, bp()).code == "badge-first"


def test_unknown_device_is_held_for_registration(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, _engine, _store = env
    session.tag(BADGE)
    session.tag(BAND)
    out = session.reading("FFFFFFFFFFFFFFFF", bp())
    assert (out.ok, out.code, out.stored) == (False, "device-pending", 0)
    assert [d.device_id for d in session.registry.list_devices("pending")] == ["FFFFFFFFFFFFFFFF"]
    session.registry.add_device("FFFFFFFFFFFFFFFF", "BP-2", "blood-pressure")
    assert session.reading("FFFFFFFFFFFFFFFF", bp()).code == "reading-stored"
    session.registry.retire_device("FFFFFFFFFFFFFFFF")
    assert session.reading("FFFFFFFFFFFFFFFF", bp("129")).code == "device-retired"


def test_card_record_names_a_known_patient_only(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, _engine, _store = env
    session.tag(BADGE)
    assert session.tag(CARD, [text_record("renkei:patient:P404")]).code == "unknown-patient"
    assert session.tag(CARD, [text_record("renkei:patient:P002")]).patient_id == "P002"


# -- reading rules --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("obs", "reason"),
    [
        (bp(sys_="NaN"), "収縮期血圧は有効な測定値ではありません"),
        (bp(dia="NRes"), "拡張期血圧は有効な測定値ではありません"),
        (bp(sys_="+INF"), "収縮期血圧は有効な測定値ではありません"),
    ],
)
def test_special_values_never_become_a_value(env, obs, reason) -> None:  # type: ignore[no-untyped-def]
    session, _clock, engine, _store = env
    session.tag(BADGE)
    session.tag(BAND)
    out = session.reading(DEVICE, obs)
    assert (out.ok, out.code, out.signal, out.rejected, out.values) == (False, "reading-invalid", "refusal", 1, [])
    assert out.device_ack and any(r.startswith(reason) for r in out.reasons)
    stats = engine.process_pending("p")
    assert (stats.sent, stats.quarantined) == (0, 1)  # kept, with its reason, never posted


def test_invalid_status_bit_never_becomes_a_value(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, engine, _store = env
    session.tag(BADGE)
    session.tag(BAND)
    obs = bp()
    obs[0].flags.append("invalid")  # what the codec makes of MeasurementStatus bit 0 (invalid)
    out = session.reading(DEVICE, obs)
    assert (out.code, out.signal) == ("reading-invalid", "refusal")
    obs = bp("129")
    obs[2].flags.append("questionable")
    assert session.reading(DEVICE, obs).code == "reading-invalid"
    assert engine.process_pending("p").sent == 0


@pytest.mark.parametrize(
    ("sys_", "dia", "mean", "reason"),
    [
        ("300", "310", None, "拡張期血圧が収縮期血圧以上です"),
        ("120", "120", None, "拡張期血圧が収縮期血圧以上です"),
        ("120", "80", "130", "平均血圧が収縮期と拡張期の間にありません"),
        ("300", "80", None, "収縮期血圧が想定範囲外です"),
    ],
)
def test_implausible_and_contradictory_readings_are_held(env, sys_, dia, mean, reason) -> None:  # type: ignore[no-untyped-def]
    session, _clock, engine, store = env
    session.tag(BADGE)
    session.tag(BAND)
    obs = bp(sys_, dia=dia)
    if mean is not None:
        obs.append(make_observation(18951, mean, 3872, effective=obs[0].effective, device_id=DEVICE))
    out = session.reading(DEVICE, obs)
    assert (out.ok, out.code, out.signal, out.held) == (False, "reading-held", "attention", 1)
    assert out.device_ack and any(r.startswith(reason) for r in out.reasons)
    stats = engine.process_pending("p")
    assert (stats.sent, stats.quarantined) == (0, 1)
    msg, _ = store.get_message(out.message_ids[0])
    assert "held for the nurse's confirmation" in msg.reason and sys_ not in msg.reason.split("confirmation", 1)[1]


def test_stored_memory_is_historical_and_not_a_clock_offset(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, engine, store = env
    session.tag(BADGE)
    session.tag(BAND)
    out = session.reading(DEVICE, bp(when=datetime(2024, 4, 28, 7, 0)) + bp("131"))  # 3 days old + now
    assert (out.ok, out.code, out.stored) == (True, "reading-stored", 2)
    old, new = (parse_tap_record(*_raw(store, m)) for m in out.message_ids)
    assert [o.flags for o in old.records[:3]] == [["historical"]] * 3
    assert all(o.effective == datetime(2024, 4, 28, 7, 0, tzinfo=TOKYO) for o in old.records[:3])
    assert [o.flags for o in new.records[:3]] == [[]] * 3
    assert engine.process_pending("p").sent == 2


def test_clock_offset_comes_from_the_device_clock_attribute(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, _engine, store = env
    session.tag(BADGE)
    session.tag(BAND)
    device_clock = datetime(2024, 5, 1, 16, 35)  # the device's MDS absolute time: 9 h ahead (set to UTC+18?)
    # the device stamps its reading with its own (fast) clock: 9 h "in the future"; not held, corrected
    out = session.reading(DEVICE, bp(when=datetime(2024, 5, 1, 16, 34)), device_clock=device_clock)
    assert (out.ok, out.code) == (True, "reading-stored")
    assert out.reasons == [REASONS["clock_offset"]]
    parsed = parse_tap_record(*_raw(store, out.message_ids[0]))
    assert parsed.records[0].flags == ["clock_offset"]
    assert parsed.records[0].effective == datetime(2024, 5, 1, 7, 34, tzinfo=TOKYO)  # corrected by -9 h
    assert json.loads(_raw(store, out.message_ids[0])[1])["device_time"] == "2024-05-01T16:34:00"  # raw kept
    assert parsed.warnings == ["device clock differs from the gateway by +32400 s"]
    right = session.reading(DEVICE, bp("130"), device_clock=datetime(2024, 5, 1, 7, 35, 20))
    assert parse_tap_record(*_raw(store, right.message_ids[0])).records[0].flags == []


def test_a_future_dated_record_is_held_and_never_blocks_the_others(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, engine, _store = env
    session.tag(BADGE)
    session.tag(BAND)
    out = session.reading(DEVICE, bp(when=datetime(2024, 5, 1, 9, 0)) + bp("129"))  # head of memory: the future
    assert (out.code, out.held, out.stored, out.device_ack) == ("reading-held", 1, 1, True)
    assert any("future" in r for r in out.reasons)
    stats = engine.process_pending("p")
    assert (stats.sent, stats.quarantined) == (1, 1)


def test_duplicates_are_per_patient(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, engine, _store = env
    session.tag(BADGE)
    session.tag(BAND2)
    wrong = session.reading(DEVICE, bp())  # first sent to the wrong patient
    session.tag(BAND)
    right = session.reading(DEVICE, bp())  # the same reading, now to the right one: not a duplicate
    again = session.reading(DEVICE, bp())
    assert (wrong.stored, right.stored, again.code) == (1, 1, "reading-duplicate")
    assert wrong.message_ids != right.message_ids
    assert engine.process_pending("p").sent == 2


def test_kpa_is_shown_normalised_with_the_original_in_brackets(env) -> None:  # type: ignore[no-untyped-def]
    session, _clock, engine, _store = env
    session.tag(BADGE)
    session.tag(BAND)
    out = session.reading(DEVICE, bp("16.0", dia="10.7", unit=3843))  # MDC_DIM_KILO_PASCAL
    assert out.ok
    assert out.values[0] == {
        "code": "18949", "name_ja": "収縮期血圧", "name_en": "systolic", "value": "120", "unit": "mmHg",
        "original": "16.0 kPa", "time": "2024-05-01T07:35:00+09:00", "flags": "",
    }  # fmt: skip
    engine.process_pending("p")
    timeline = engine.connector("tl")
    (post,) = timeline.read(timeline.group_for_patient("P001"))
    assert "血圧 120/80 mmHg（16.0/10.7 kPa）　脈拍 72 /min" in post["text"]
    assert "測定: nurse.sato" in post["text"]


def _raw(store: Store, message_id: int) -> tuple[str, bytes]:
    msg, _ = store.get_message(message_id)
    return msg.source_key, msg.raw


def test_a_held_reading_is_posted_once_a_nurse_confirms_it(env) -> None:  # type: ignore[no-untyped-def]
    from renkei.connectors.bedside import confirmed_record
    from renkei.errors import InputError
    from renkei.records import SourceItem

    session, _clock, engine, store = env
    session.tag(BADGE)
    session.tag(BAND)
    held = session.reading(DEVICE, bp("270", dia="95"))
    invalid = session.reading(DEVICE, bp("NaN"))
    assert (held.code, invalid.code) == ("reading-held", "reading-invalid")
    assert engine.process_pending("p").sent == 0
    item, raw = confirmed_record(*_raw(store, held.message_ids[0]), "nurse.ito")
    assert isinstance(item, SourceItem) and item.group == "P001"
    engine.ingest("p", [(item, raw)])
    assert engine.process_pending("p").sent == 1
    (post,) = engine.connector("tl").read(engine.connector("tl").group_for_patient("P001"))
    assert "血圧 270/95 mmHg" in post["text"] and "測定: nurse.sato　確認: nurse.ito" in post["text"]
    assert "保留された値を看護師が確認しました" in post["text"]
    with pytest.raises(InputError, match="only a held reading can be confirmed"):
        confirmed_record(*_raw(store, invalid.message_ids[0]), "nurse.ito")

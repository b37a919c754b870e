"""Simulators speak real bytes: an extended-configuration PHDC agent, the serial line server over pyserial's
socket:// URL decoded by the codec's MasimoDecoder, and the `renkei simulate` command's argument errors."""

from __future__ import annotations

import socket
import threading
from datetime import datetime

import serial
from click.testing import CliRunner

from renkei.bin.cmd_simulate import simulate
from renkei.devices.ndef_phdc import PhdcManagerLink, read_phd_message
from renkei.devices.phd_manager import PhdManager
from renkei.devices.serial_protocols import MasimoDecoder
from renkei.devices.simulators.agents import KINDS, Measurement, PhdDeviceScript
from renkei.devices.simulators.scenario import Scenario
from renkei.devices.simulators.serial_sim import serve_lines
from renkei.devices.simulators.tags import PhdcAgentTag


def _exchange(tag: PhdcAgentTag, manager: PhdManager) -> list[str]:
    def write(data: bytes) -> None:
        tag.memory.set_ndef(data)
        tag.memory.on_written(data)

    link = PhdcManagerLink(tag.memory.ndef, write, manager=manager, sleep=lambda _s: None)
    result = link.run(read_phd_message(tag.memory.ndef()))  # type: ignore[arg-type]
    return [o.value for o in result.observations]


def test_extended_configuration_is_sent_once_then_remembered() -> None:
    kind = KINDS["thermometer"]
    memory = [Measurement({"temperature": "36.8"}, datetime(2024, 5, 1, 7, 30))]
    tag = PhdcAgentTag(bytes(8), lambda: PhdDeviceScript(kind, memory, config_id=0x4001))
    learnt: dict = {}
    assert _exchange(tag, PhdManager(extended_configs=learnt)) == ["36.8"]
    assert tag.script.sent == ["AARQ", "config", "PRST EventReport", "PRST GetResult", "RLRQ"]
    tag.reset()
    assert _exchange(tag, PhdManager(extended_configs=learnt)) == ["36.8"]
    # no config report the second time (the manager's GET of the MDS is answered each time)
    assert tag.script.sent == ["AARQ", "PRST EventReport", "PRST GetResult", "RLRQ"]


def test_scenario_orders_tags_and_rejects_unknown_steps() -> None:
    tags = Scenario(kind="scale", sequence=["device", "badge"], patient_record="9999013").tags()
    assert [t.kind for t in tags] == ["phdc", "identity"]
    wristband = Scenario(patient_record="9999013", sequence=["wristband"]).tags()[0]
    assert b"renkei:patient:9999013" in wristband.memory.ndef()


def test_serial_simulator_over_pyserial_socket_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"socket://127.0.0.1:{port}"
    sent: list[int] = []
    t = threading.Thread(target=lambda: sent.append(serve_lines(url, "oximeter", when=None, count=3, bad=True, wait=5)))
    t.start()
    for _ in range(100):
        try:
            port_ = serial.serial_for_url(url, timeout=2)
            break
        except serial.SerialException:
            threading.Event().wait(0.02)
    data = b"".join(port_.read_until(b"\r\n") for _ in range(6))  # the server closes after its lines
    port_.close()
    t.join()
    readings = MasimoDecoder().feed(data)
    good = [r for r in readings if r.error is None]
    assert sent == [6] and len(readings) == 6
    assert [[o.value for o in r.observations][:2] for r in good] == [["97", "68"], ["96", "69"], ["95", "70"]]
    assert all(r.error is not None and r.error.offset == r.offset + r.raw.index(b"9X7") for r in readings[::2])


def test_simulate_command_rejects_bad_arguments() -> None:
    runner = CliRunner()
    assert runner.invoke(simulate, ["bp"]).exit_code == 2
    assert runner.invoke(simulate, ["bp", "--nfc", "udp", "--serial", "socket://127.0.0.1:1"]).exit_code == 2
    bad = runner.invoke(simulate, ["bp", "--nfc", "udp", "--sequence", "badge,elbow"])
    assert bad.exit_code == 2 and "elbow" in bad.output
    assert runner.invoke(simulate, ["bp", "--serial", "socket://127.0.0.1:9"]).exit_code == 2  # no serial format


def test_simulated_device_time_is_wall_time_in_the_device_zone_not_the_hosts(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import time as _time
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from renkei.devices.simulators.scenario import device_wall_time

    monkeypatch.setenv("TZ", "UTC")  # a UTC host: the old simulator stamped this and was 9 h off in Tokyo
    _time.tzset()
    try:
        tokyo = ZoneInfo("Asia/Tokyo")
        tag = Scenario(kind="bp", sequence=["device"], memory=2, tz=tokyo).tags()[0]
        script = tag.script  # type: ignore[attr-defined]
        newest = script.memory[-1].when
        expected = datetime.now(tokyo).replace(tzinfo=None)
        assert abs(newest - expected) < timedelta(seconds=5)
        assert script.memory[0].when == newest - timedelta(minutes=1)
        # an ISO time with an offset is converted to the device's zone; a naive one is taken as its wall time
        utc_noon = datetime(2024, 5, 1, 3, 0, tzinfo=ZoneInfo("UTC"))
        assert device_wall_time(utc_noon, tokyo) == datetime(2024, 5, 1, 12, 0)
        assert device_wall_time(datetime(2024, 5, 1, 12, 0), tokyo) == datetime(2024, 5, 1, 12, 0)
    finally:
        monkeypatch.delenv("TZ")
        _time.tzset()


def test_simulate_rejects_an_unknown_zone() -> None:
    from click.testing import CliRunner

    from renkei.bin.cli import main

    result = CliRunner().invoke(main, ["simulate", "bp", "--nfc", "udp", "--tz", "Mars/Olympus"])
    assert result.exit_code == 2 and "not an IANA time zone" in result.output


def test_a_simulated_device_answers_the_mds_get_with_its_skewed_clock_and_status_bits() -> None:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    tokyo = ZoneInfo("Asia/Tokyo")
    scenario = Scenario(kind="bp-kpa", sequence=["device"], clock_offset=3600, status={"bp": 0x8000}, tz=tokyo)
    (tag,) = scenario.tags()
    manager = PhdManager()
    clocks: list[datetime | None] = []

    def write(data: bytes) -> None:
        tag.memory.set_ndef(data)
        tag.memory.on_written(data)

    link = PhdcManagerLink(tag.memory.ndef, write, manager=manager, sleep=lambda _s: None,
                           commit=lambda _d, _o: clocks.append(manager.device_clock))  # fmt: skip
    result = link.run(read_phd_message(tag.memory.ndef()))  # type: ignore[arg-type]
    assert [o.value for o in result.observations] == ["", "", "", "72"]  # invalid: no number kept
    assert tag.script.sent == ["AARQ", "config", "PRST EventReport", "PRST GetResult", "RLRQ"]  # type: ignore[attr-defined]
    ahead = clocks[0] - datetime.now(tokyo).replace(tzinfo=None)  # type: ignore[operator]
    assert timedelta(minutes=59) < ahead < timedelta(minutes=61)


def test_simulate_status_option_needs_a_configuration_that_carries_it() -> None:
    runner = CliRunner()
    refused = runner.invoke(simulate, ["bp", "--nfc", "udp", "--status", "invalid"])
    assert refused.exit_code == 2 and "bp-kpa or bp-status" in refused.output
    bad = runner.invoke(simulate, ["bp-status", "--nfc", "udp", "--status", "broken"])
    assert bad.exit_code == 2 and "invalid, questionable" in bad.output

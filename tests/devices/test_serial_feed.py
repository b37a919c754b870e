"""SerialFeed mechanics: one reading per wristband tap, a failing store or an absent port never ends the
port thread. The tap session has a real device registry; `ingest` is a stand-in here (the real engine is
in test_bedside_serial.py), so consent is not this file's subject."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from tap_support import Patients

from renkei.connectors.base import SourceItem
from renkei.devices import nomenclature as mdc
from renkei.devices.readings import make_observation
from renkei.devices.registry import DeviceRegistry
from renkei.devices.serial_feed import SerialFeed
from renkei.devices.serial_protocols import Reading, encode_masimo_line
from renkei.devices.tap import TapSession

DEVICE, BADGE, BAND = "00AA00BB00CC0001", "02FE000000000001", "02FE000000000002"


class FlakyStore:
    """Records what was ingested; raises for the first `failures` calls, like a locked or full disk."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.items: list[SourceItem] = []

    def __call__(self, items: Sequence[tuple[SourceItem, bytes]]) -> list[tuple[int, bool]]:
        if self.failures:
            self.failures -= 1
            raise OSError("disk I/O error")
        out = []
        for item, _raw in items:
            dup = any(i.key == item.key for i in self.items)
            if not dup:
                self.items.append(item)
            out.append((len(self.items), dup))
        return out


@pytest.fixture
def session_for(tmp_path: Path):  # type: ignore[no-untyped-def]
    registry = DeviceRegistry(tmp_path)
    registry.add_device(DEVICE, "Rad-8", "pulse-oximeter")
    registry.add_badge(BADGE, "nurse.sato")

    def make(store: FlakyStore) -> TapSession:
        session = Patients({BAND: "P001"}).session(registry, store)
        assert session.tag(BADGE).ok and session.tag(BAND).ok
        return session

    yield make
    registry.close()


def _reading(spo2: int) -> Reading:
    obs = make_observation(mdc.MDC_PULS_OXIM_SAT_O2, spo2, mdc.MDC_DIM_PERCENT, source="masimo")
    return Reading(0, b"", {}, [obs])


def _wait(done: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)
    return done()


def test_take_first_takes_one_reading_per_wristband_tap(session_for) -> None:  # type: ignore[no-untyped-def]
    store = FlakyStore()
    session = session_for(store)
    feed = SerialFeed("loop://", "masimo", DEVICE, session)  # not started: handle() is called directly
    assert feed.handle(_reading(97)).code == "reading-stored"  # type: ignore[union-attr]
    assert feed.handle(_reading(96)) is None  # same wristband tap: the monitor's next line is skipped
    assert session.tag(BAND).ok  # the nurse taps the wristband again
    assert feed.handle(_reading(95)).code == "reading-stored"  # type: ignore[union-attr]
    assert [len(i.key) for i in store.items] == [44, 44] and feed.counts["skipped"] == 1
    every = SerialFeed("loop://", "masimo", DEVICE, session, take="all")
    assert every.handle(_reading(94)).code == "reading-stored"  # type: ignore[union-attr]
    assert every.handle(_reading(94)).code == "reading-duplicate"  # type: ignore[union-attr]
    assert len(store.items) == 3


def test_unknown_protocol_is_refused(session_for) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="unknown serial protocol 'nonin'"):
        SerialFeed("loop://", "nonin", DEVICE, session_for(FlakyStore()))


def test_absent_port_then_failing_store_never_end_the_thread(
    session_for,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="renkei.devices.serial_feed")
    store = FlakyStore(failures=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    feed = SerialFeed(f"socket://127.0.0.1:{port}", "masimo", DEVICE, session_for(store), take="all")
    feed.reconnect_seconds = 0.02
    feed.start()
    try:
        assert _wait(lambda: feed.counts["open-failed"] >= 3)  # nobody listens yet
        with socket.create_server(("127.0.0.1", port)) as server:
            server.settimeout(5)
            conn, _ = server.accept()
            with conn:
                time.sleep(0.2)  # pyserial's open() discards input that arrived before it finished
                conn.sendall(encode_masimo_line(97, 70) + encode_masimo_line(96, 71))
                assert _wait(lambda: feed.counts["reading-stored"] == 1)
        assert feed.counts["store-failed"] == 1 and feed.running
        assert _wait(lambda: feed.counts["link-lost"] == 1)  # the device hung up: reopened, still running
        assert feed.running
    finally:
        feed.stop()
    assert not feed.running
    messages = [r.getMessage() for r in caplog.records]
    assert sum("retrying every 0.02 s" in m for m in messages) == 1  # not once per attempt
    assert sum("port open" in m for m in messages) == 1
    failed = [m for m in messages if "not stored" in m]
    assert failed == [
        f"bedside -: reading from device {DEVICE} not stored: OSError: disk I/O error",  # the session: why
        f"serial socket://127.0.0.1:{port}: reading at byte offset 0 not stored",  # the feed: which input
    ]
    assert len(store.items) == 1  # the second line, after the failed first one


def test_stop_ends_a_thread_waiting_on_a_silent_port(session_for) -> None:  # type: ignore[no-untyped-def]
    feed = SerialFeed("loop://", "intellivue", DEVICE, session_for(FlakyStore()))
    feed.start()
    assert _wait(lambda: feed.running)
    started = time.monotonic()
    feed.stop()
    assert not feed.running and time.monotonic() - started < 2


def test_a_live_feed_survives_an_overlong_number_and_a_decoder_fault(
    session_for,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from renkei.devices.errors import DecoderFault
    from renkei.devices.serial_protocols import AndWeightDecoder

    original = AndWeightDecoder.parse_line

    def buggy(self, text: str, offset: int, raw: bytes):  # type: ignore[no-untyped-def]
        if text.startswith("US,"):
            raise ZeroDivisionError("a decoder bug")  # stands in for any unforeseen failure
        return original(self, text, offset, raw)

    monkeypatch.setattr(AndWeightDecoder, "parse_line", buggy)
    caplog.set_level(logging.WARNING, logger="renkei.devices.serial_feed")
    store = FlakyStore()
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        feed = SerialFeed(f"socket://127.0.0.1:{port}", "and", DEVICE, session_for(store), take="all")
        feed.start()
        try:
            server.settimeout(5)
            conn, _ = server.accept()
            with conn:
                time.sleep(0.2)
                bad = b"ST,+1111111111111111111111111111111.4 kg\r\n"  # raised decimal.InvalidOperation before
                conn.sendall(bad + b"US,+00052.400 kg\r\n" + b"ST,+00052.400 kg\r\n")
                assert _wait(lambda: feed.counts["reading-stored"] == 1)
            assert feed.counts["bad-frames"] == 2 and feed.running
        finally:
            feed.stop()
    warnings = [r for r in caplog.records if "bad frame" in r.getMessage()]
    assert "bad frame at byte offset 3" in warnings[0].getMessage()  # the number field of the first line
    assert "not a device number" in warnings[0].getMessage()
    assert f"bad frame at byte offset {len(bad)}" in warnings[1].getMessage()
    assert "decoder fault" in warnings[1].getMessage() and warnings[1].exc_info is not None
    assert isinstance(warnings[1].exc_info[1], ZeroDivisionError)  # type: ignore[index]
    assert not any(isinstance(r.exc_info and r.exc_info[1], DecoderFault) for r in caplog.records)
    assert [i.key for i in store.items] and len(store.items) == 1

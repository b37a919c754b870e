"""NfcReader.handle_tag on a PHDC agent whose NDEF write fails the way nfcpy 1.0.4's Type 3 tag does when the
attribute block cannot be re-read (it indexes None: TypeError): a broken link with the device's id, not a
crash of the tap."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from tap_support import Patients

from renkei.devices.nfc import NfcReader
from renkei.devices.registry import DeviceRegistry
from renkei.devices.simulators.agents import KINDS, Measurement, PhdDeviceScript
from renkei.devices.simulators.scenario import device_idm
from renkei.devices.simulators.tags import PhdcAgentTag

BADGE, BAND = "02FE000000000001", "02FE000000000002"


class LosingNdef:
    """Reads the agent's memory; every write fails like nfcpy's tt3 `_write_ndef_data` after a lost read."""

    def __init__(self, octets: bytes) -> None:
        self._octets = octets
        self.has_changed = False
        self.writes = 0

    @property
    def octets(self) -> bytes:
        return self._octets

    @octets.setter
    def octets(self, data: bytes) -> None:
        self.writes += 1
        attributes = None
        attributes["writef"] = 0x0F  # type: ignore[index]

    @property
    def length(self) -> int:
        return len(self._octets)


def test_failed_ndef_write_is_a_broken_phdc_link(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    kind = KINDS["bp"]
    system_id = kind.system_id.hex().upper()
    registry = DeviceRegistry(tmp_path)
    registry.add_device(system_id, "BP", "blood-pressure")
    registry.add_badge(BADGE, "nurse.sato")
    session = Patients({BAND: "P001"}).session(registry, lambda items: pytest.fail("nothing may be stored"))
    assert session.tag(BADGE).ok and session.tag(BAND).ok
    agent = PhdcAgentTag(device_idm("bp"), lambda: PhdDeviceScript(kind, [Measurement(kind.values, None)]))
    ndef = LosingNdef(agent.memory.ndef())
    tag = SimpleNamespace(identifier=device_idm("bp"), ndef=ndef)
    caplog.set_level(logging.WARNING, logger="renkei.devices.nfc")
    out = NfcReader("udp", session).handle_tag(tag)
    assert (out.ok, out.code, out.device_id) == (False, "read-failed", system_id)
    assert ndef.writes == 1  # the AARE
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith(
        f"PHDC link with tag {device_idm('bp').hex().upper()} broke off: NDEF write failed: TypeError"
    )
    registry.close()


def test_reader_patterns_are_distinct_and_sent_only_where_the_driver_has_led_and_buzzer() -> None:
    from types import SimpleNamespace

    from renkei.devices.nfc import PATTERNS, signal_reader

    sent: list[tuple[bytes, float]] = []
    acr122 = SimpleNamespace(
        chipset=SimpleNamespace(
            ccid_xfr_block=lambda data, timeout: sent.append((bytes(data), timeout)),
            set_buzzer_and_led_to_active=lambda: None,
        )
    )
    assert len(set(PATTERNS.values())) == 3
    for name in ("success", "attention", "refusal"):
        assert signal_reader(acr122, name)
    assert [s[0] for s in sent] == [PATTERNS["success"], PATTERNS["attention"], PATTERNS["refusal"]]
    assert all(s[0][:3] == bytes.fromhex("FF0040") for s in sent)  # ACR122U "Bi-Color LED and Buzzer Control"
    # refusal: red blinking (P2 0x55), three repetitions with the buzzer on T1; success: green (0xAA), once
    assert (sent[2][0][3], sent[2][0][7]) == (0x55, 3) and (sent[0][0][3], sent[0][0][7]) == (0xAA, 1)
    # nfcpy's udp driver (and PaSoRi/PN53x) have no LED/buzzer: nothing is sent, the caller records the pattern
    assert not signal_reader(SimpleNamespace(), "refusal") and len(sent) == 3

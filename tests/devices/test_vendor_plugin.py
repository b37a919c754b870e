"""The `renkei.device_decoders` vendor plugin slot, with a real (tiny) installed distribution: a module and
its `.dist-info` (METADATA + entry_points.txt) put on sys.path, found by importlib.metadata as pip would
install it. The plugin's reading then goes through NfcReader.handle_tag and the tap session like any tap."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from tap_support import Patients

from renkei.devices import ndef_phdc
from renkei.devices.errors import DeviceCodecError
from renkei.devices.ndef_phdc import TNF_EXTERNAL, NdefRecord, decode_vendor, encode_message, vendor_decoders
from renkei.devices.nfc import NfcReader
from renkei.devices.registry import DeviceRegistry

PLUGIN = '''
from decimal import Decimal

from renkei.devices import nomenclature as mdc
from renkei.devices.errors import DeviceCodecError
from renkei.devices.readings import make_observation


def decode(record, tag_id):
    """acme.example:bt payload: ASCII body temperature in tenths of a degree, e.g. b'368'."""
    if record.type_name != "urn:nfc:ext:acme.example:bt":
        return None
    if not record.payload.isdigit():
        raise DeviceCodecError(f"acme: temperature {record.payload[:8]!r} is not digits", 0)
    value = Decimal(record.payload.decode()) / 10
    return [make_observation(mdc.MDC_TEMP_BODY, value, mdc.MDC_DIM_DEGC, device_id=tag_id, source="acme")]
'''

DEVICE_TAG, BADGE, BAND = "0123456789ABCDEF", "02FE000000000001", "02FE000000000002"


def _record(payload: bytes) -> NdefRecord:
    return NdefRecord(TNF_EXTERNAL, b"acme.example:bt", payload)


@pytest.fixture
def acme_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    (tmp_path / "acme_renkei_vendor.py").write_text(PLUGIN, encoding="utf-8")
    info = tmp_path / "acme_renkei_vendor-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-renkei-vendor\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[renkei.device_decoders]\nacme = acme_renkei_vendor:decode\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    vendor_decoders.cache_clear()  # the lookup is cached per process
    yield
    vendor_decoders.cache_clear()
    sys.modules.pop("acme_renkei_vendor", None)


def test_no_plugin_installed_means_no_vendor_decoding() -> None:
    vendor_decoders.cache_clear()
    assert "acme" not in vendor_decoders()
    assert decode_vendor([_record(b"368")], DEVICE_TAG) is None


@pytest.mark.usefixtures("acme_installed")
def test_installed_plugin_is_found_and_decodes_only_its_records() -> None:
    assert ndef_phdc.DECODER_GROUP == "renkei.device_decoders"
    assert "acme" in vendor_decoders()
    other = NdefRecord(TNF_EXTERNAL, b"other.example:x", b"1")
    name, observations = decode_vendor([other, _record(b"368")], DEVICE_TAG)  # type: ignore[misc]
    assert name == "acme"
    assert [(o.code.code, o.value, o.device_id, o.source) for o in observations] == [
        ("19292", "36.8", DEVICE_TAG, "acme")
    ]
    assert decode_vendor([other], DEVICE_TAG) is None
    with pytest.raises(DeviceCodecError, match="byte offset 0: acme: temperature b'3x8' is not digits"):
        decode_vendor([_record(b"3x8")], DEVICE_TAG)


@pytest.mark.usefixtures("acme_installed")
def test_plugin_reading_goes_through_the_tap_session(tmp_path: Path) -> None:
    registry = DeviceRegistry(tmp_path / "reg")
    registry.add_device(DEVICE_TAG, "ACME BT-1", "thermometer")
    registry.add_badge(BADGE, "nurse.sato")
    stored: list[bytes] = []

    def ingest(items):  # type: ignore[no-untyped-def]
        stored.extend(raw for _item, raw in items)
        return [(len(stored), False) for _ in items]

    session = Patients({BAND: "P001"}).session(registry, ingest)
    reader = NfcReader("udp", session)  # not started: taps are handed to handle_tag as nfcpy would

    def tag(identifier: str, records: list[NdefRecord]) -> SimpleNamespace:
        octets = encode_message(records) if records else b""
        ndef = SimpleNamespace(octets=octets, length=len(octets), has_changed=False)
        return SimpleNamespace(identifier=bytes.fromhex(identifier), ndef=ndef)

    device = tag(DEVICE_TAG, [_record(b"368")])
    assert reader.handle_tag(device).code == "refused"  # no badge yet: refused before anything is stored
    assert reader.handle_tag(tag(BADGE, [])).code == "badge-accepted"
    assert reader.handle_tag(tag(BAND, [])).code == "wristband-accepted"
    out = reader.handle_tag(device)
    assert (out.code, out.patient_id, out.device_id, out.stored) == ("reading-stored", "P001", DEVICE_TAG, 1)
    assert len(stored) == 1 and b'"value": "36.8"' in stored[0] and b'"patient_id": "P001"' in stored[0]
    registry.close()

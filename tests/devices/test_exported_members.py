"""The supported names of renkei.devices: adding or removing one is a deliberate API change."""

from __future__ import annotations

import renkei.devices as devices


def test_exported_members() -> None:
    assert set(devices.__all__) == {
        "STANDARD_CONFIGS",
        "AndWeightDecoder",
        "Configuration",
        "DeviceCodecError",
        "DeviceTransportError",
        "IntelliVueDecoder",
        "ManagerEvent",
        "ManagerState",
        "ManagerStep",
        "MasimoDecoder",
        "MderNumber",
        "PhdAgent",
        "PhdManager",
        "Reading",
        "SerialFrameReader",
        "StreamDecoder",
        "decode_apdu",
        "decode_gatt",
        "decode_stream",
        "encode_apdu",
        "split_apdus",
    }
    for name in devices.__all__:
        obj = getattr(devices, name)
        if callable(obj):
            assert obj.__module__.startswith("renkei.devices"), name

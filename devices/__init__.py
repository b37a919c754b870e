"""Vital-sign devices: byte codecs (IEEE 11073, NDEF/PHDC, GATT, serial), transports, bedside tap, simulators.

The supported names are re-exported here (pinned by tests/devices/test_exported_members.py):

- IEEE 11073-20601: `decode_apdu`, `encode_apdu`, `split_apdus` (ieee11073), `PhdManager`,
  `ManagerStep`, `ManagerEvent`, `ManagerState` (phd_manager), `PhdAgent` (phd_agent),
  `Configuration`, `STANDARD_CONFIGS` (phd_configs), `MderNumber` (mder).
- BLE GATT: `decode_gatt` and the per-characteristic codecs in `renkei.devices.gatt`.
- Serial: `StreamDecoder`, `Reading`, `MasimoDecoder`, `AndWeightDecoder`, `IntelliVueDecoder`,
  `decode_stream`, `SerialFrameReader`.
- Errors: `DeviceCodecError` (malformed bytes, an InputError), `DeviceTransportError` (the link).
"""

from renkei.devices.errors import DeviceCodecError
from renkei.devices.gatt import decode_gatt
from renkei.devices.ieee11073 import decode_apdu, encode_apdu, split_apdus
from renkei.devices.intellivue import IntelliVueDecoder
from renkei.devices.mder import MderNumber
from renkei.devices.phd_agent import PhdAgent
from renkei.devices.phd_configs import STANDARD_CONFIGS, Configuration
from renkei.devices.phd_manager import ManagerEvent, ManagerState, ManagerStep, PhdManager
from renkei.devices.serial_port import DeviceTransportError, SerialFrameReader
from renkei.devices.serial_protocols import AndWeightDecoder, MasimoDecoder, Reading, StreamDecoder, decode_stream

__all__ = [
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
]

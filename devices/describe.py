"""Decode a whole device capture (a file's bytes) into JSON-able dicts: what `renkei device decode` prints.

`decode_capture(fmt, data)` handles every format the CLI offers: "11073" (APDUs back to back, replayed
through a PhdManager so data reports decode with the configuration the association announced),
"gatt-bp" | "gatt-temp" | "gatt-glucose" (one characteristic value), "masimo" | "and" | "intellivue"
(serial streams). Each observation also carries what a person reads: `name` (ja/en from the nomenclature
tables), `unit_display`, and `no_value_reason` (the status bit or special value that withholds its
number, else null). Malformed input raises DeviceCodecError with the byte offset (for 11073 also the APDU's
index and offset). `read_input` turns hex
text (whitespace, "0x" prefixes and commas allowed) or raw bytes into bytes.
"""

from __future__ import annotations

import dataclasses
import string
from datetime import datetime
from enum import Enum
from typing import Any

from renkei.devices import nomenclature as mdc
from renkei.devices.errors import DeviceCodecError
from renkei.devices.gatt import decode_gatt
from renkei.devices.ieee11073 import apdu_name, split_apdus
from renkei.devices.intellivue import IntelliVueDecoder
from renkei.devices.mder import MderNumber
from renkei.devices.phd_manager import PhdManager
from renkei.devices.readings import no_value_reason
from renkei.devices.serial_protocols import AndWeightDecoder, MasimoDecoder, StreamDecoder, decode_stream
from renkei.records import Observation

FORMATS = ("11073", "gatt-bp", "gatt-temp", "gatt-glucose", "masimo", "and", "intellivue")
BINARY_FORMATS = {"11073", "gatt-bp", "gatt-temp", "gatt-glucose", "intellivue"}
_HEX = set(string.hexdigits)


def jsonable(obj: Any) -> Any:
    """Dataclasses, bytes (hex), MderNumber (exact text), datetimes, enums -> JSON-able values."""
    if isinstance(obj, MderNumber):
        return obj.text
    if isinstance(obj, bytes | bytearray):
        return bytes(obj).hex().upper()
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"type": type(obj).__name__}
        out.update({f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)})
        return out
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    return obj


def read_input(data: bytes, mode: str = "auto", fmt: str = "11073") -> bytes:
    """Hex text or binary. `auto`: text formats are always raw; binary ones are hex when they look like it."""
    if mode == "binary" or (mode == "auto" and fmt not in BINARY_FORMATS):
        return data
    text = data.decode("latin-1").replace("0x", "").replace("0X", "").replace(",", " ")
    digits = "".join(text.split())
    if mode == "auto" and (not digits or not set(digits) <= _HEX):
        return data
    bad = next((i for i, ch in enumerate(text) if not ch.isspace() and ch not in _HEX), None)
    if bad is not None:
        raise DeviceCodecError(f"not a hex digit: {text[bad]!r} (input character {bad})", bad)
    if len(digits) % 2:
        raise DeviceCodecError("odd number of hex digits", len(digits) // 2)
    return bytes.fromhex(digits)


def observation_item(o: Observation) -> dict[str, Any]:
    """An observation as JSON plus what a person reads: names (ja/en), the unit's display, the status."""
    item = o.to_dict()
    item["name"] = {"ja": mdc.names_of(o.code.code, "ja"), "en": mdc.names_of(o.code.code, "en")}
    unit = mdc.UNITS_BY_REFID.get(o.unit)
    item["unit_display"] = unit.display if unit is not None else o.unit
    item["no_value_reason"] = no_value_reason(o)
    return item


def observation_text(o: dict[str, Any]) -> str:
    """One observation for the text output: 「体脂肪率=21.5 % (Body fat)」, or why it has no value."""
    label = f"{o['name']['ja']} ({o['name']['en']})" if o["name"]["ja"] != o["name"]["en"] else o["name"]["ja"]
    if o["no_value_reason"]:
        return f"{label}: no value [{', '.join(o['flags'])}]"
    flags = f" [{', '.join(o['flags'])}]" if o["flags"] else ""
    when = f" @{o['effective']}" if o.get("effective") else ""
    return f"{label}={o['value']} {o['unit_display']}{when}{flags}"


def event_text(e: dict[str, Any]) -> str:
    """A manager event for the text output, with the reason of ABRT/RLRQ/RLRE and rejections spelt out."""
    detail = e.get("detail", {})
    parts = [e["kind"]]
    for key in ("reason_name", "result_name", "reason"):
        if key in detail and not (key == "reason" and "reason_name" in detail):
            parts.append(f"{key.removesuffix('_name')}={detail[key]}")
    return " ".join(parts)


def _serial_decoder(fmt: str, device_id: str) -> StreamDecoder:
    if fmt == "masimo":
        return MasimoDecoder(device_id)
    if fmt == "and":
        return AndWeightDecoder(device_id)
    return IntelliVueDecoder(device_id)


def decode_capture(fmt: str, data: bytes, device_id: str = "") -> list[dict[str, Any]]:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    if fmt == "11073":
        manager = PhdManager()
        items = []
        for index, (offset, apdu_bytes) in enumerate(split_apdus(data)):
            try:
                step = manager.handle(apdu_bytes, base=offset)
            except DeviceCodecError as exc:
                reason = f"APDU #{index + 1} at byte offset {offset}: {exc.reason}"
                raise DeviceCodecError(reason, exc.offset) from exc
            items.append(
                {
                    "offset": offset,
                    "apdu": apdu_name(step.apdu),
                    "decoded": jsonable(step.apdu),
                    "manager_state": manager.state.value,
                    "responses": [r.hex().upper() for r in step.responses],
                    "events": jsonable(step.events),
                    "observations": [observation_item(o) for o in step.observations],
                }
            )
        return items
    if fmt.startswith("gatt-"):
        record, observations = decode_gatt(fmt, data, device_id)
        return [{"offset": 0, "decoded": jsonable(record), "observations": [observation_item(o) for o in observations]}]
    readings = decode_stream(_serial_decoder(fmt, device_id), data)
    return [
        {
            "offset": r.offset,
            "raw": r.raw.decode("latin-1") if fmt != "intellivue" else r.raw.hex().upper(),
            "fields": jsonable(r.fields),
            "observations": [observation_item(o) for o in r.observations],
        }
        for r in readings
    ]

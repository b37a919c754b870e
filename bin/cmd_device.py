"""`renkei device …`: decode device captures (IEEE 11073 APDUs, BLE GATT values, serial streams)."""

from __future__ import annotations

import json
import sys

import click

from renkei.devices.describe import FORMATS, decode_capture, event_text, observation_text, read_input
from renkei.devices.errors import DeviceCodecError


@click.group()
def device() -> None:
    """Vital-sign device tools."""


@device.command("decode")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="codec to decode with")
@click.option("--input", "input_mode", type=click.Choice(["auto", "hex", "binary"]), default="auto", show_default=True)
@click.option("--device-id", default="", help="device id to put on readings (GATT/serial)")
@click.option("--json/--text", "as_json", default=True, show_default=True, help="JSON (default) or one line per item")
@click.argument("file", type=click.File("rb"))
def decode(fmt: str, input_mode: str, device_id: str, as_json: bool, file: click.utils.LazyFile) -> None:
    """Decode FILE (or - for stdin): hex text or binary; a file may hold a whole 11073 exchange."""
    try:
        data = read_input(file.read(), input_mode, fmt)
        items = decode_capture(fmt, data, device_id)
    except DeviceCodecError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    for item in items:
        obs = ", ".join(observation_text(o) for o in item["observations"])
        label = item.get("apdu") or item.get("decoded", {}).get("type", "") or "reading"
        events = "; ".join(event_text(e) for e in item.get("events", []))
        tail = "".join(f" — {part}" for part in (events, obs) if part)
        click.echo(f"@{item['offset']}: {label}{tail}")

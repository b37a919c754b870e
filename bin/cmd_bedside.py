"""`renkei devices pending|register|retire` and `renkei badges revoke`: the bedside's device and badge lists.

A device nobody registered that touches a reader is held (`pending`) and its readings refused until it is
registered; a retired device is refused; a revoked (lost) badge is refused from then on. The lists live in
the device registry (`devices.sqlite` in the data folder, or the bedside connector's `registry_dir`).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from renkei.bin.common import (
    data_dir_of,
    data_option,
    emit_json,
    engine_for,
    handle_errors,
    iso,
    json_option,
    open_store,
)
from renkei.devices.registry import PENDING, DeviceRegistry, norm_id
from renkei.errors import NotFoundError
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.bedside_confirm import confirm_held_reading
from renkei.pipelines.store import Store


def _registry(data: str | None) -> DeviceRegistry:
    return DeviceRegistry(data_dir_of(data))


def _audit(data: str | None, action: str, detail: str) -> None:
    store = Store.in_data_dir(data_dir_of(data))
    try:
        store.audit([AuditEntry(action, "", "device-registry", detail)])
    finally:
        store.close()


@click.group()
def devices() -> None:
    """Bedside devices: list those held for registration, register, retire."""


@devices.command("pending")
@data_option
@json_option
@handle_errors
def pending(data: str | None, as_json: bool) -> None:
    """Devices that touched a reader without being registered (their readings are refused)."""
    registry = _registry(data)
    try:
        rows = registry.list_devices(PENDING)
    finally:
        registry.close()
    if as_json:
        emit_json([{"device_id": d.device_id, "specialization": d.specialization} for d in rows])
        return
    if not rows:
        click.echo("no device is waiting for registration")
    for d in rows:
        click.echo(f"{d.device_id}  {d.specialization or '-'}")


@devices.command("register")
@click.argument("device_id")
@click.option("--model", required=True, help="model name, e.g. UA-651")
@click.option("--specialization", required=True, help="e.g. blood-pressure, thermometer, pulse-oximeter")
@click.option("--facility", default="", help="owner facility")
@click.option("--timezone", default="", help="the device clock's IANA zone (default: the site's)")
@data_option
@handle_errors
def register(device_id: str, model: str, specialization: str, facility: str, timezone: str, data: str | None) -> None:
    """Register DEVICE_ID (a pending or retired one becomes active)."""
    registry = _registry(data)
    try:
        registry.add_device(device_id, model, specialization, facility, timezone)
    finally:
        registry.close()
    _audit(data, "device.register", f"device {norm_id(device_id)} {specialization}")
    click.echo(f"device {norm_id(device_id)} registered")


@devices.command("retire")
@click.argument("device_id")
@data_option
@handle_errors
def retire(device_id: str, data: str | None) -> None:
    """Retire DEVICE_ID: its readings are refused from now on."""
    registry = _registry(data)
    try:
        if not registry.retire_device(device_id):
            raise NotFoundError(f"device {norm_id(device_id)} is not registered")
    finally:
        registry.close()
    _audit(data, "device.retire", f"device {norm_id(device_id)}")
    click.echo(f"device {norm_id(device_id)} retired")


@click.group()
def badges() -> None:
    """Nurse badges."""


@badges.command("revoke")
@click.argument("tag_id")
@data_option
@handle_errors
def revoke(tag_id: str, data: str | None) -> None:
    """Revoke a lost badge TAG_ID: it is refused at every reader from now on."""
    registry = _registry(data)
    try:
        if not registry.revoke_badge(tag_id):
            raise NotFoundError(f"badge {norm_id(tag_id)} is not registered")
        badge = registry.badge(tag_id)
    finally:
        registry.close()
    _audit(data, "badge.revoke", f"badge {norm_id(tag_id)} of {badge.nurse_id if badge else '-'}")
    click.echo(f"badge {norm_id(tag_id)} revoked at {iso(time.time())}")


@devices.command("confirm")
@click.argument("message_id", type=int)
@click.option("--nurse", required=True, help="the nurse (staff id) who checked the reading at the bedside")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@data_option
@handle_errors
def confirm(message_id: int, nurse: str, config_file: Path | None, data: str | None) -> None:
    """Post a reading held for confirmation (MESSAGE_ID from `renkei messages list --state QUARANTINED`)."""
    store, _data_dir = open_store(data)
    engine = engine_for(store, data, config_file)
    try:
        done = confirm_held_reading(engine, message_id, nurse)
    finally:
        engine.close()
        store.close()
    outcome = "already posted" if done.duplicate else "posted"
    click.echo(f"message {message_id} confirmed by {nurse}: {outcome} as {done.new_id}")

"""`renkei simulate`: play a bedside device speaking real bytes, plus a nurse badge and a patient wristband.

    renkei simulate bp --nfc udp:127.0.0.1:54321 --patient 9999013
    renkei simulate thermometer --nfc udp --sequence device        # only the device tap
    renkei simulate bp --nfc udp --sequence badge,wristband,device,device --json

Over `--nfc` the device is an IEEE 11073 agent carried by PHDC on an emulated FeliCa Type 3 tag (nfcpy's
only emulation; see devices/simulators/tags.py for how that approximates PHDC); the badge and wristband
are Type 3 tags too. Over `--serial socket://127.0.0.1:PORT` the simulator listens on that port and
sends the device's serial line format (oximeter: Masimo ASCII-1; scale: A&D) to the first client.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from renkei.devices.simulators.agents import KINDS


def _parse_when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date-time (e.g. 2024-05-01T07:30:00)") from None


@click.command()
@click.argument("kind", type=click.Choice(sorted(KINDS)))
@click.option("--nfc", "nfc_path", help="nfcpy path to emulate on: udp[:host:port] (or a reader that can listen)")
@click.option("--serial", "serial_url", help="socket://127.0.0.1:PORT: serve the serial line format there")
@click.option("--sequence", default="badge,wristband,device", show_default=True, help="taps, comma-separated")
@click.option("--patient", default="", help="write renkei:patient:<id> on the wristband as well")
@click.option("--when", help="device time of the measurement (ISO, device local time); default now")
@click.option("--timezone", default="Asia/Tokyo", show_default=True, help="the device clock's zone (the site's)")
@click.option("--memory", default=1, show_default=True, type=click.IntRange(1, 50), help="stored measurements")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(1, 20), help="serial: each line N times")
@click.option("--bad-frames", is_flag=True, help="send malformed frames (length fields that lie / bad lines)")
@click.option("--wait", default=30.0, show_default=True, help="seconds to wait for the reader on each tap")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object per tap")
def simulate(
    kind: str,
    nfc_path: str | None,
    serial_url: str | None,
    sequence: str,
    patient: str,
    when: str | None,
    timezone: str,
    memory: int,
    repeat: int,
    bad_frames: bool,
    wait: float,
    as_json: bool,
) -> None:
    """Simulate a bedside KIND device (bp, thermometer, oximeter, scale)."""
    if bool(nfc_path) == bool(serial_url):
        raise click.UsageError("give exactly one of --nfc or --serial")
    device_time = _parse_when(when)
    if serial_url:
        from renkei.devices.simulators.serial_sim import serve_lines

        try:
            sent = serve_lines(
                serial_url, kind, when=device_time, count=memory, bad=bad_frames, wait=wait, repeat=repeat
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        _emit({"kind": kind, "serial": serial_url, "lines": sent}, as_json)
        return
    from renkei.devices.simulators.field import present
    from renkei.devices.simulators.scenario import Scenario

    try:
        scenario = Scenario(
            kind=kind,
            sequence=[s.strip() for s in sequence.split(",") if s.strip()],
            patient_record=patient,
            when=device_time,
            memory=memory,
            bad_frames=bad_frames,
            timezone=timezone,
        )
        tags = scenario.tags()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    path = nfc_path if nfc_path != "udp" else "udp:127.0.0.1:54321"
    failed = 0
    for report in present(path, tags, wait=wait, on_tap=None):
        failed += not report.served
        _emit(
            {
                "tag": report.kind,
                "idm": report.idm,
                "served": report.served,
                "seconds": round(report.seconds, 3),
                "errors": list(report.errors),
            },
            as_json,
        )
    sys.exit(1 if failed else 0)


def _emit(obj: dict[str, object], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(obj, ensure_ascii=False))
    else:
        click.echo("  ".join(f"{k}={v}" for k, v in obj.items()))

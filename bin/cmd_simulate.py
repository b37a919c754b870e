"""`renkei simulate`: play a bedside device speaking real bytes, plus a nurse badge and a patient wristband.

    renkei simulate bp --nfc udp:127.0.0.1:54321 --patient 9999013
    renkei simulate thermometer --nfc udp --sequence device        # only the device tap
    renkei simulate bp --nfc udp --sequence badge,wristband,device,device --json
    renkei simulate bp-kpa --nfc udp --status invalid     # a kPa monitor whose reading is marked invalid
    renkei simulate bp --nfc udp --clock-offset 3600      # the device's own clock is an hour fast

Over `--nfc` the device is an IEEE 11073 agent carried by PHDC on an emulated FeliCa Type 3 tag (nfcpy's
only emulation; see devices/simulators/tags.py for how that approximates PHDC); the badge and wristband
are Type 3 tags too. Over `--serial socket://127.0.0.1:PORT` the simulator listens on that port and
sends the device's serial line format (oximeter: Masimo ASCII-1; scale: A&D) to the first client.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from renkei.devices import nomenclature as mdc
from renkei.devices.simulators.agents import KINDS


def _parse_when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date-time (e.g. 2024-05-01T07:30:00)") from None


def _parse_tz(value: str) -> tzinfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"{value!r} is not an IANA time zone (e.g. Asia/Tokyo)") from None


@click.command()
@click.argument("kind", type=click.Choice(sorted(KINDS)))
@click.option("--nfc", "nfc_path", help="nfcpy path to emulate on: udp[:host:port] (or a reader that can listen)")
@click.option("--serial", "serial_url", help="socket://127.0.0.1:PORT: serve the serial line format there")
@click.option("--sequence", default="badge,wristband,device", show_default=True, help="taps, comma-separated")
@click.option("--patient", default="", help="write renkei:patient:<id> on the wristband as well")
@click.option("--when", help="device time of the measurement (ISO; without an offset: wall time in --tz); default now")
@click.option(
    "--tz",
    "--timezone",
    "tz_name",
    default="Asia/Tokyo",
    show_default=True,
    help="the device clock's zone; use the gateway's site zone (tap config `timezone`), never the host's",
)
@click.option(
    "--clock-offset",
    default=0.0,
    show_default=True,
    help="seconds the device's own clock (its MDS Absolute-Time, read by the reader) is ahead; negative: behind",
)
@click.option(
    "--status",
    "status_bits",
    default="",
    help="Measurement-Status of every value (bp-kpa, bp-status): invalid, questionable or a number, e.g. 0x8000",
)
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
    memory: int,
    repeat: int,
    bad_frames: bool,
    wait: float,
    as_json: bool,
    tz_name: str,
    clock_offset: float,
    status_bits: str,
) -> None:
    """Simulate a bedside KIND device (bp, bp-kpa, bp-status, thermometer, oximeter, scale)."""
    if bool(nfc_path) == bool(serial_url):
        raise click.UsageError("give exactly one of --nfc or --serial")
    tz = _parse_tz(tz_name)
    parsed = _parse_when(when)
    # the device clock shows wall time in its zone, whatever the host's zone is
    from renkei.devices.simulators.scenario import device_wall_time

    device_time = device_wall_time(parsed, tz) if parsed is not None else None
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
            tz=tz,
            memory=memory,
            bad_frames=bad_frames,
            clock_offset=clock_offset,
            status=_status(kind, status_bits),
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


STATUS_NAMES = {"invalid": 0x8000, "questionable": 0x4000}


def _status(kind: str, text: str) -> dict[str, int]:
    """--status for each value of KIND; only configurations that carry a Measurement-Status take it."""
    if not text:
        return {}
    config = KINDS[kind].config
    if config is None or not any(
        a == mdc.MDC_ATTR_MSMT_STAT for o in config.objects.values() for a, _n in o.attr_val_map
    ):
        raise click.UsageError(f"{kind} reports no Measurement-Status; use bp-kpa or bp-status")
    try:
        bits = STATUS_NAMES[text] if text in STATUS_NAMES else int(text, 0)
    except ValueError:
        raise click.BadParameter(f"{text!r}: give invalid, questionable or a number such as 0x8000") from None
    return dict.fromkeys(KINDS[kind].values, bits)


def _emit(obj: dict[str, object], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(obj, ensure_ascii=False))
    else:
        click.echo("  ".join(f"{k}={v}" for k, v in obj.items()))

"""`renkei mllp send HOST:PORT FILE…`: send HL7 v2 files over MLLP by hand and show each ACK."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from renkei.bin.common import emit_json


@click.group("mllp")
def mllp() -> None:
    """HL7 v2 over MLLP tools."""


def _split_messages(data: bytes) -> list[bytes]:
    """A file holds one message, several (each starting with an MSH line), or MLLP frames."""
    from renkei.connectors.mllp import FrameDecoder

    if data.lstrip(b"\r\n\t ").startswith(b"\x0b"):  # not bare lstrip(): VT counts as whitespace
        decoder = FrameDecoder(max_size=len(data) + 1)
        frames = decoder.feed(data)
        decoder.flush()
        return frames
    text = data.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    out: list[bytes] = []
    for seg in text.split(b"\r"):
        if not seg.strip():
            continue
        if seg.startswith(b"MSH") or not out:
            out.append(seg + b"\r")
        else:
            out[-1] += seg + b"\r"
    return out


@mllp.command("send")
@click.argument("address", metavar="HOST:PORT")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls", is_flag=True, help="connect with TLS")
@click.option("--ca", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="CA file to verify the server")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="seconds to wait for each ACK")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def send(address: str, files: tuple[Path, ...], tls: bool, ca: Path | None, timeout: float, as_json: bool) -> None:
    """Send the HL7 v2 messages in FILES to HOST:PORT over MLLP, one connection, and print each ACK.

    A file may hold one message, several (each beginning with an MSH segment), or MLLP frames. Exit
    status: 0 when every message got AA, 1 when any got AE/AR or the connection failed, 2 on bad input.
    """
    import ssl

    from renkei.connectors.mllp import FramingError, MLLPClient

    host, _, port_s = address.rpartition(":")
    if not host or not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise click.BadParameter(f"{address!r} is not HOST:PORT", param_hint="HOST:PORT")
    messages: list[tuple[str, bytes]] = []
    for path in files:
        try:
            found = _split_messages(path.read_bytes())
        except (OSError, FramingError) as exc:
            click.echo(f"error: {path}: {exc}", err=True)
            sys.exit(2)
        if not found:
            click.echo(f"error: {path}: no HL7 message in the file", err=True)
            sys.exit(2)
        messages += [(str(path), m) for m in found]
    context = ssl.create_default_context(cafile=ca) if tls or ca else None
    results = []
    failed = False
    with MLLPClient(host, int(port_s), tls=context, ack_timeout=timeout) as client:
        for name, message in messages:
            try:
                ack = client.send(message)
            except OSError as exc:
                results.append({"file": name, "ack": None, "error": f"{type(exc).__name__}: {exc}"})
                failed = True
                break
            results.append(
                {"file": name, "control_id": ack.control_id, "ack": ack.code, "text": ack.reason, "ack_id": ack.ack_id}
            )
            failed = failed or not ack.accepted
    if as_json:
        emit_json(results)
    else:
        for r in results:
            if r["ack"] is None:
                click.echo(f"{r['file']}: no ACK ({r['error']})")
            else:
                click.echo(f"{r['file']}: {r['control_id']} -> {r['ack']}{': ' + r['text'] if r['text'] else ''}")
    sys.exit(1 if failed else 0)

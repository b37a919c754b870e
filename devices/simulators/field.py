"""Present emulated tags to an NFC reader one after another, over nfcpy's card (listen) mode.

With the `udp[:host:port]` driver this runs on one machine without hardware: the reader process opens
`udp:host:port` and polls; this side binds that port and answers as the tag. Each tag is held "in the
field" until its tap is complete (identity tag read, PHDC exchange finished), then removed: we stop
answering for `gap` seconds so the reader's presence check fails and it goes back to polling.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from renkei.devices.simulators.tags import EmulatedTag

log = logging.getLogger("renkei.simulators.field")


@dataclass(slots=True)
class TapReport:
    kind: str
    idm: str
    served: bool
    seconds: float
    first_command_at: float = 0.0  # time.time() when the reader first spoke to this tag
    errors: tuple[str, ...] = ()


def present(
    path: str,
    tags: Sequence[EmulatedTag],
    *,
    wait: float = 10.0,
    hold: float = 5.0,
    linger: float = 0.1,
    gap: float = 0.6,
    on_tap: Callable[[TapReport], None] | None = None,
) -> list[TapReport]:
    """Tap each tag in turn. `wait`: how long to wait for the reader; `hold`: longest time in the field."""
    import nfc
    import nfc.clf

    clf = nfc.ContactlessFrontend(path)
    reports: list[TapReport] = []
    try:
        for tag in tags:
            report = _tap(clf, tag, wait, hold, linger, nfc)
            reports.append(report)
            if on_tap:
                on_tap(report)
            time.sleep(gap)  # out of the field: the reader sees the tag leave
    finally:
        clf.close()
    return reports


def _tap(clf: object, tag: EmulatedTag, wait: float, hold: float, linger: float, nfc: object) -> TapReport:
    import nfc.clf
    import nfc.tag

    tag.reset()
    started = time.perf_counter()
    target = nfc.clf.LocalTarget("212F")
    target.sensf_res = bytearray(tag.sensf_res())
    activated = clf.listen(target, wait)  # type: ignore[attr-defined]
    if activated is None:
        return TapReport(tag.kind, tag.idm.hex().upper(), False, time.perf_counter() - started)
    first_at = time.time()
    emulation = nfc.tag.emulate(clf, activated)
    emulation.add_service(0x0009, tag.memory.read_block, tag.memory.write_block)
    emulation.add_service(0x000B, tag.memory.read_block, lambda *_a: False)
    response = emulation.process_command(emulation.cmd)
    deadline = time.monotonic() + hold
    done_at: float | None = None
    while time.monotonic() < deadline:
        if done_at is None and tag.done():
            done_at = time.monotonic()
        if done_at is not None and time.monotonic() - done_at >= linger:
            break
        try:
            command = emulation.send_response(response, 0.2)
            response = emulation.process_command(command) if command else None
        except nfc.clf.BrokenLinkError:
            break
        except nfc.clf.TimeoutError:
            response = None
        except nfc.clf.CommunicationError as exc:
            log.debug("tag %s: %s", tag.idm.hex(), exc)
            response = None
    errors = tuple(getattr(tag, "errors", ()))
    return TapReport(tag.kind, tag.idm.hex().upper(), tag.done(), time.perf_counter() - started, first_at, errors)

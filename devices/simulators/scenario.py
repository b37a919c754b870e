"""A bedside scenario: which tags the simulator taps, in which order (`renkei simulate` builds one).

    tags = build_tags("bp", sequence=["badge", "wristband", "device", "device"])
    present("udp:127.0.0.1:54321", tags)

Defaults are fixed, documented ids so a test or a demo config can register them:
badge IDm 02FE000000000001 (nurse), wristband IDm 02FE000000000002 (patient; also carries the text
record `renkei:patient:<patient>` when one is given), device tag IDm 02FE0000000000Dn, device system
ids from `agents.KINDS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from renkei.devices.ndef_phdc import text_record
from renkei.devices.simulators.agents import KINDS, Measurement, PhdDeviceScript
from renkei.devices.simulators.tags import EmulatedTag, IdentityTag, PhdcAgentTag

BADGE_IDM = bytes.fromhex("02FE000000000001")
WRISTBAND_IDM = bytes.fromhex("02FE000000000002")
STEPS = ("badge", "wristband", "device")
DEFAULT_DEVICE_TZ = ZoneInfo("Asia/Tokyo")  # the gateway's default site zone (devices/tap.py TapConfig.timezone)


def device_wall_time(when: datetime | None, tz: tzinfo) -> datetime:
    """What a device clock set to `tz` shows (naive, as on the wire): now by default; an aware `when` is
    converted to `tz`; a naive `when` is taken as that wall time already. Never the host's local clock."""
    if when is None:
        when = datetime.now(tz)
    elif when.tzinfo is not None:
        when = when.astimezone(tz)
    return when.replace(microsecond=0, tzinfo=None)


def device_idm(kind: str) -> bytes:
    return bytes.fromhex("02FE0000000000") + bytes([0xD0 + list(KINDS).index(kind)])


@dataclass(slots=True)
class Scenario:
    kind: str = "bp"
    sequence: Sequence[str] = STEPS
    badge_idm: bytes = BADGE_IDM
    wristband_idm: bytes = WRISTBAND_IDM
    patient_record: str = ""  # e.g. "9999013": the wristband also carries renkei:patient:9999013
    values: dict[str, object] = field(default_factory=dict)  # overrides of the kind's default values
    when: datetime | None = None  # device time of the stored measurement; default: now in `tz`
    tz: tzinfo = DEFAULT_DEVICE_TZ  # the device's zone: its clock shows wall time there (no zone on the wire)
    memory: int = 1  # stored measurements the device resends on every tap
    system_id: bytes | None = None
    config_id: int | None = None
    bad_frames: bool = False
    clock_offset: float = 0.0  # seconds the device's own clock is ahead (negative: behind) of true time
    status: dict[str, int] = field(default_factory=dict)  # Measurement-Status bits per value name

    def device_clock(self) -> datetime:
        """What the device's clock shows now: wall time in its zone, `clock_offset` seconds off."""
        return device_wall_time(datetime.now(UTC) + timedelta(seconds=self.clock_offset), self.tz)

    def tags(self) -> list[EmulatedTag]:
        if self.kind not in KINDS:
            raise ValueError(f"unknown device kind {self.kind!r}; known: {', '.join(KINDS)}")
        kind = KINDS[self.kind]
        when = device_wall_time(self.when, self.tz)
        values = {**kind.values, **self.values}
        # older memories one minute apart, newest last, as a device's memory would be
        memory = [
            Measurement(values, when - timedelta(minutes=self.memory - 1 - i), dict(self.status))
            for i in range(self.memory)
        ]
        badge = IdentityTag(self.badge_idm)
        records = [text_record(f"renkei:patient:{self.patient_record}")] if self.patient_record else None
        wristband = IdentityTag(self.wristband_idm, records)
        device = PhdcAgentTag(
            device_idm(self.kind),
            lambda: PhdDeviceScript(
                kind, memory, system_id=self.system_id, config_id=self.config_id, bad_frames=self.bad_frames,
                clock=self.device_clock,
            ),
        )
        by_step: dict[str, EmulatedTag] = {"badge": badge, "wristband": wristband, "device": device}
        unknown = [s for s in self.sequence if s not in by_step]
        if unknown:
            raise ValueError(f"unknown step(s) {', '.join(unknown)}; steps are {', '.join(STEPS)}")
        return [by_step[s] for s in self.sequence]

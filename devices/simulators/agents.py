"""Simulated IEEE 11073 devices: the agent APDUs a blood-pressure monitor, thermometer, pulse oximeter or
scale sends, built with the codec engineer's agent-side encoder (`devices/phd_agent.PhdAgent`).

A device holds one or more stored measurements ("memory"); on each association it sends them all as
confirmed fixed scan reports, then releases. Resending the same memory on a later tap is exactly what
real devices do, and what the tap session's idempotency keys must absorb. The device has its own clock
(`clock`, wall time without a zone; a test skews it to play a device whose clock is off) and answers the
manager's GET of the MDS with it.

Kinds: `bp` (standard configuration 0x02BC, mmHg), `bp-kpa` (a monitor reporting in kPa, with a
Measurement-Status in each report: extended configuration 0x4002), `bp-status` (mmHg with a
Measurement-Status: 0x4003), `thermometer`, `oximeter`, `scale`. A measurement's `status` sets the
Measurement-Status bits per value name (e.g. {"bp": 0x8000} invalid, 0x4000 questionable) where the
configuration carries that attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from renkei.devices import ieee11073 as p
from renkei.devices import nomenclature as mdc
from renkei.devices.phd_agent import PhdAgent
from renkei.devices.phd_configs import Configuration, blood_pressure
from renkei.devices.simulators.tags import AgentScript


@dataclass(slots=True, frozen=True)
class DeviceKind:
    name: str  # CLI name
    specialization: str  # PhdAgent / phd_configs name
    model: str
    values: dict[str, object]  # one default measurement
    system_id: bytes
    config: Configuration | None = None  # None: the specialization's standard configuration


KINDS: dict[str, DeviceKind] = {
    "bp": DeviceKind(
        "bp", "blood-pressure", "renkei-sim BP-1", {"bp": (128, 82, 97), "pulse": 72}, bytes.fromhex("0011223344550001")
    ),
    "thermometer": DeviceKind(
        "thermometer", "thermometer", "renkei-sim TH-1", {"temperature": "36.8"}, bytes.fromhex("0011223344550002")
    ),
    "oximeter": DeviceKind(
        "oximeter", "pulse-oximeter", "renkei-sim OX-1", {"spo2": 97, "pulse": 68}, bytes.fromhex("0011223344550003")
    ),
    "scale": DeviceKind(
        "scale", "weighing-scale", "renkei-sim SC-1", {"weight": "52.4"}, bytes.fromhex("0011223344550004")
    ),
    "bp-kpa": DeviceKind(
        "bp-kpa", "blood-pressure", "renkei-sim BP-2 kPa", {"bp": ("16.0", "10.7", "12.3"), "pulse": 72},
        bytes.fromhex("0011223344550005"), blood_pressure(0x4002, mdc.MDC_DIM_KILO_PASCAL, status=True),
    ),
    "bp-status": DeviceKind(
        "bp-status", "blood-pressure", "renkei-sim BP-3", {"bp": (128, 82, 97), "pulse": 72},
        bytes.fromhex("0011223344550006"), blood_pressure(0x4003, mdc.MDC_DIM_MMHG, status=True),
    ),
}


@dataclass(slots=True)
class Measurement:
    values: dict[str, object]
    when: datetime | None
    status: dict[str, int] = field(default_factory=dict)  # Measurement-Status bits per value name


@dataclass(slots=True)
class PhdDeviceScript(AgentScript):
    """AARQ -> (config report if asked) -> one confirmed report per stored measurement -> RLRQ."""

    kind: DeviceKind
    memory: list[Measurement]
    system_id: bytes | None = None
    config_id: int | None = None  # >= 0x4000: announce an extended configuration
    bad_frames: bool = False  # corrupt each report's length field (tests the manager's error path)
    clock: Callable[[], datetime] | None = None  # the device's clock (wall time); None: a device without one
    sent: list[str] = field(default_factory=list)
    agent: PhdAgent | None = None
    _queue: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        config = self.kind.config or self.kind.specialization
        system_id = self.system_id or self.kind.system_id
        self.agent = PhdAgent(config, system_id, config_id=self.config_id, clock=self.clock)

    def first(self) -> bytes:
        assert self.agent is not None
        self.sent.append("AARQ")
        return self.agent.aarq()

    def _reports(self) -> list[bytes]:
        assert self.agent is not None
        out = []
        for m in self.memory:
            apdu = self.agent.fixed_report(m.values, m.when, status=m.status)
            if self.bad_frames:
                apdu = apdu[:2] + (len(apdu) + 3).to_bytes(2, "big") + apdu[4:]  # length field lies
            out.append(apdu)
        return [*out, self.agent.rlrq()]

    def reply(self, apdu: bytes) -> bytes | None:
        assert self.agent is not None
        if not apdu:
            return self._next()
        decoded = p.decode_apdu(apdu)
        answers = self.agent.handle(apdu)
        if isinstance(decoded, p.Aare):
            if not self.agent.associated:
                return None
            if answers:  # accepted-unknown-config: our configuration report goes first
                self.sent.append("config")
                return answers[0]
            self._queue = self._reports()
            return self._next()
        if isinstance(decoded, p.Prst) and isinstance(decoded.message, p.Get):
            self.sent.append(p.apdu_name(p.decode_apdu(answers[0])))
            return answers[0]  # the MDS attributes (with the clock); the report in flight awaits its confirmation
        if isinstance(decoded, p.Prst):
            if not self._queue and self.sent[-1] == "config":
                self._queue = self._reports()
            return self._next()
        return None  # RLRE, ABRT, RLRQ: the exchange is over

    def _next(self) -> bytes | None:
        if not self._queue:
            return None
        apdu = self._queue.pop(0)
        self.sent.append(p.apdu_name(p.decode_apdu(apdu)) if not self.bad_frames else "frame")
        return apdu

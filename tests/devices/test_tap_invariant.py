"""Randomized tap sequences on two readers: a reading reaches exactly the patient whose valid wristband opened the
current session on that reader, once, or nobody (docs/bedside.md, "Session rules").

Badges (valid, revoked, unknown), wristbands (known, unknown, no consent), devices (registered, unknown),
readings (new and resent) and clock jumps (inside and past the window) are drawn by hypothesis and played on
two TapSessions sharing one real device registry and one ledger. A small reference model — written from the
rules, not from the code — says who should receive each reading.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st
from tap_support import Patients, Person

from renkei.devices.readings import make_observation
from renkei.devices.registry import DeviceRegistry
from renkei.devices.tap import TapConfig
from renkei.records import SourceItem

WINDOW = 120.0
BADGE, REVOKED, UNKNOWN_BADGE = "B1", "B2", "B3"
BANDS = {"W1": "P1", "W2": "P2", "W9": "P9"}  # P9 has no consent
UNKNOWN_BAND = "W4"
DEVICE, UNKNOWN_DEVICE = "D1", "D2"
TAGS = [BADGE, REVOKED, UNKNOWN_BADGE, *BANDS, UNKNOWN_BAND]

_folder = Path(tempfile.mkdtemp(prefix="renkei-tap-invariant-"))
_registry = DeviceRegistry(_folder)
_registry.add_device(DEVICE, "BP", "blood-pressure")
_registry.add_badge(BADGE, "nurse.a")
_registry.add_badge(REVOKED, "nurse.b")
_registry.revoke_badge(REVOKED)
PATIENTS = Patients(BANDS, {"P9": Person("P9", can_receive=False, reason="no consent")})


class Ledger:
    """The engine's ingest contract: store once per key, say whether it was a duplicate."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}  # key -> patient
        self.posted: list[tuple[str, int]] = []  # (patient, reading value) stored for the first time

    def __call__(self, items: Sequence[tuple[SourceItem, bytes]]) -> list[tuple[int, bool]]:
        out = []
        for item, raw in items:
            dup = item.key in self.keys
            if not dup:
                self.keys[item.key] = item.group
                self.posted.append((item.group, int(raw.split(b'"value": "', 1)[1].split(b'"', 1)[0])))
            out.append((len(self.keys), dup))
        return out


@dataclass
class Model:
    """The rules, per reader: who would a reading go to now."""

    nurse_at: float | None = None
    patient: str | None = None
    patient_at: float = 0.0

    def tag(self, tag: str, t: float) -> None:
        if tag == BADGE:
            self.nurse_at, self.patient = t, None
            return
        if tag == REVOKED:
            self.nurse_at, self.patient = None, None
            return
        if self.nurse_at is None:
            return
        if t - self.nurse_at > WINDOW:
            self.nurse_at, self.patient = None, None
            return
        patient = BANDS.get(tag)
        if patient is None or patient == "P9":
            self.patient = None  # a refused wristband ends the patient session
        else:
            self.patient, self.patient_at = patient, t

    def reading(self, device: str, t: float) -> str | None:
        if self.nurse_at is None or self.patient is None:
            return None
        if t - self.patient_at > WINDOW:
            self.nurse_at, self.patient = None, None
            return None
        return self.patient if device == DEVICE else None


# weighted so that the interesting orders (badge -> wristband -> refused wristband -> reading) come up often
_tag = st.tuples(st.just("tag"), st.integers(0, 1), st.sampled_from([BADGE] * 3 + ["W1"] * 2 + ["W2"] * 2 + TAGS))
_read = st.tuples(st.just("read"), st.integers(0, 1), st.sampled_from([DEVICE] * 5 + [UNKNOWN_DEVICE]))
_resend = st.tuples(st.just("resend"), st.integers(0, 1), st.just(DEVICE))
_wait = st.tuples(st.just("wait"), st.just(0), st.sampled_from(["5", "60", "130"]))
step = st.one_of(_tag, _tag, _tag, _read, _read, _resend, _wait)


@settings(max_examples=400, deadline=None)
@given(st.lists(step, min_size=1, max_size=30))
@example([("tag", 0, BADGE), ("tag", 0, "W1"), ("tag", 0, UNKNOWN_BAND), ("read", 0, DEVICE)])  # issue 10's case
@example([("tag", 0, BADGE), ("tag", 0, "W1"), ("tag", 0, "W9"), ("read", 0, DEVICE)])  # no consent
def test_a_reading_reaches_the_patient_of_the_current_session_once_or_nobody(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    now = [datetime(2024, 5, 1, 7, 0, tzinfo=UTC).timestamp()]
    ledger = Ledger()
    readers = [
        PATIENTS.session(
            _registry, ledger, config=TapConfig(window_seconds=WINDOW, timezone="UTC"), clock=lambda: now[0]
        )
        for _ in range(2)
    ]  # type: list[TapSession]
    models = [Model(), Model()]
    value = 100
    last_value: list[tuple[int, datetime] | None] = [None, None]
    expected: dict[int, str | None] = {}  # reading value -> who may have it
    received: dict[tuple[str, int], int] = {}
    for kind, r, arg in steps:
        t = now[0]
        if kind == "wait":
            now[0] += float(arg)
            continue
        if kind == "tag":
            readers[r].tag(arg)
            models[r].tag(arg, t)
            continue
        if kind == "resend" and last_value[r] is not None:
            v, when = last_value[r]  # the device resends its memory: same value, same device time
        else:
            value += 1
            v, when = value, datetime.fromtimestamp(t, UTC).replace(tzinfo=None)
        last_value[r] = (v, when)
        who = models[r].reading(arg, t)
        obs = [make_observation(18474, v, 2720, effective=when, device_id=arg)]  # pulse, /min: a plausible value
        before = len(ledger.posted)
        out = readers[r].reading(arg, obs)
        new = ledger.posted[before:]
        if who is None:
            assert not out.ok and out.stored == 0 and new == [], (kind, r, arg, out.code)
        else:
            assert out.ok and out.patient_id == who, (kind, r, arg, out.code, who)
            assert all(p == who for p, _v in new)
            expected.setdefault(v, who)
        for p, pv in new:
            received[(p, pv)] = received.get((p, pv), 0) + 1
    assert all(n == 1 for n in received.values()), received  # once
    # each reading value reached at most the patients the model allowed, once each
    for (p, v), _n in received.items():
        assert p in {m for m in BANDS.values() if m != "P9"}
        assert v in expected

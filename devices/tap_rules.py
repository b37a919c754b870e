"""The bedside reading rules (docs/bedside.md, "Reading rules"): what becomes of one measurement.

One measurement is the observations a device sent with one device time (a cuff cycle: systolic,
diastolic, mean, pulse). It is judged whole — one part marked invalid makes the rest of that cycle suspect:
- REFUSE: a measurement-status bit saying the value is not a real measurement (invalid, questionable,
  not available, calibration, test/demo data, measurement ongoing), or a special value (NaN, NRes, ±INF,
  reserved), or a value that is not a number. Nothing of it becomes a value; the raw reading is kept.
- HOLD (for the nurse's confirmation): a value outside the plausible range, a contradiction (diastolic ≥
  systolic, mean outside them), or a device time in the future beyond the tolerance.
- POST FLAGGED: older than the session (stored memory: `historical`, shown with its own time), the
  device's own clock attribute differs from the gateway's (`clock_offset`: the session corrected the
  reading's time by that offset before judging it), no device time.
- POST: everything else.
The messages are bilingual ("ja / en"); the reasons carry codes and names of measurements, never values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from renkei.records import Observation

POST, HOLD, REFUSE = "post", "hold", "refuse"

# Measurement-status bits (IEEE 11073-20601 MeasurementStatus) and special values (readings.SPECIAL_FLAGS)
# that mean "this is not a measured value".
NOT_A_VALUE_FLAGS = {
    "invalid", "questionable", "not-available", "calibration-ongoing", "test-data", "demo-data", "msmt-ongoing",
    "not-a-number", "not-at-this-resolution", "positive-infinity", "negative-infinity", "reserved-value",
}  # fmt: skip

# Plausibility ranges in the normalised unit (judgement: wide adult ranges; a site narrows them in config).
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "18949": (50, 260),  # systolic, mm[Hg]
    "18950": (20, 160),  # diastolic
    "18951": (30, 200),  # mean
    "18474": (25, 250),  # pulse rate (NIBP), /min
    "18458": (25, 250),  # pulse rate (oximeter), /min
    "19384": (50, 100),  # SpO2, %
    "19292": (30, 45),  # body temperature, Cel
    "57664": (2, 300),  # body mass, kg
    "57680": (8, 80),  # BMI
    "29112": (10, 800),  # glucose, mg/dL
}
SYSTOLIC, DIASTOLIC, MEAN = "18949", "18950", "18951"

NAMES = {
    "18949": ("収縮期血圧", "systolic"), "18950": ("拡張期血圧", "diastolic"), "18951": ("平均血圧", "mean"),
    "18474": ("脈拍", "pulse"), "18458": ("脈拍", "pulse"), "19384": ("SpO2", "SpO2"),
    "19292": ("体温", "temperature"), "57664": ("体重", "weight"), "57680": ("BMI", "BMI"),
    "29112": ("血糖", "glucose"),
}  # fmt: skip

REASONS = {
    "not-a-value": "{ja}は有効な測定値ではありません / {en} is not a valid measurement",
    "implausible": "{ja}が想定範囲外です。確認してください / {en} is outside the plausible range: please confirm",
    "diastolic-not-below-systolic": (
        "拡張期血圧が収縮期血圧以上です。確認してください / Diastolic is not below systolic: please confirm"
    ),
    "mean-outside": "平均血圧が収縮期と拡張期の間にありません / Mean pressure is outside systolic-diastolic",
    "future-time": "機器の時刻が未来です。確認してください / The reading is dated in the future: please confirm",
    "historical": "機器のメモリの過去の測定値です（測定時刻を表示） / A stored earlier reading (shown with its time)",
    "clock_offset": (
        "機器の時計がずれています。測定時刻を補正しました / The device's clock is off: the reading's time was corrected"
    ),
    "no_device_time": "機器が測定時刻を送っていません / The device sent no measurement time",
}


@dataclass(slots=True)
class Verdict:
    outcome: str  # POST | HOLD | REFUSE
    reasons: list[str] = field(default_factory=list)  # reason codes with the measurement, e.g. implausible:18949
    flags: list[str] = field(default_factory=list)  # flags for a posted measurement (historical, clock_offset)

    def messages(self) -> list[str]:
        return [reason_message(r) for r in self.reasons]


def reason_message(reason: str) -> str:
    code, _, mdc = reason.partition(":")
    ja, en = NAMES.get(mdc, (mdc or "測定値", mdc or "the value"))
    return REASONS.get(code, code).format(ja=ja, en=en)


def number(obs: Observation) -> float | None:
    """The value to judge: the normalised one when the codec made one, else the value text as a number."""
    if obs.normalized_value is not None:
        return obs.normalized_value
    try:
        value = float(obs.value)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None  # NaN / ±inf are not numbers


def judge(
    observations: list[Observation],
    ranges: dict[str, tuple[float, float]],
    *,
    offset_from_now: float | None,
    future_tolerance: float,
    before_session: bool,
    clock_offset: bool,
) -> Verdict:
    """The verdict on one measurement. `offset_from_now`: device time minus gateway time (s), None when the
    device sent no time; `before_session`: taken before the nurse's badge tap; `clock_offset`: the device's
    own clock attribute disagrees with the gateway's."""
    refused = [
        f"not-a-value:{o.code.code}"
        for o in observations
        if NOT_A_VALUE_FLAGS.intersection(o.flags) or number(o) is None
    ]
    if refused:
        return Verdict(REFUSE, refused)
    held: list[str] = []
    values = {o.code.code: number(o) for o in observations}
    for o in observations:
        rng = ranges.get(o.code.code)
        v = values[o.code.code]
        if rng is not None and v is not None and not rng[0] <= v <= rng[1]:
            held.append(f"implausible:{o.code.code}")
    sys_, dia, mean = values.get(SYSTOLIC), values.get(DIASTOLIC), values.get(MEAN)
    if sys_ is not None and dia is not None:
        if dia >= sys_:
            held.append("diastolic-not-below-systolic")
        elif mean is not None and not dia <= mean <= sys_:
            held.append("mean-outside")
    if offset_from_now is not None and offset_from_now > future_tolerance:
        held.append("future-time")
    if held:
        return Verdict(HOLD, held)
    flags = []
    if offset_from_now is None:
        flags.append("no_device_time")
    elif before_session:
        flags.append("historical")
    if clock_offset:
        flags.append("clock_offset")
    return Verdict(POST, list(flags), flags)

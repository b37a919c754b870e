"""What the nurse is told at the bedside: one bilingual message per tap outcome ("ja / en"), and the values
as they are shown everywhere — the normalised value in the display unit, the original in brackets when
it differs (「血圧 120/80 mmHg（16.0/10.7 kPa）」; the VITALS template follows the same rule)."""

from __future__ import annotations

from renkei.devices.tap_rules import NAMES
from renkei.records import Observation

MESSAGES = {
    "badge-accepted": (
        "看護師バッジを確認しました。患者リストバンドをタッチしてください / Badge accepted: tap the patient's wristband"
    ),
    "badge-revoked": "このバッジは無効化されています / This badge has been revoked",
    "wristband-accepted": "患者を確認しました。機器をタッチしてください / Patient confirmed: tap the device",
    "patient-switched": (
        "患者が切り替わりました。この患者で測定します / Patient switched: readings now go to this patient"
    ),
    "patient-cannot-receive": (
        "この患者には送信できません。測定しないでください / This patient cannot receive posts: do not measure"
    ),
    "reading-stored": "測定値を保存しました / Reading stored",
    "reading-duplicate": "この測定値は保存済みです / This reading was already stored",
    "reading-held": "測定値を保留しました。確認が必要です / Reading held: it needs your confirmation",
    "reading-invalid": "有効な測定値ではありません。投稿しません / Not a valid reading: it will not be posted",
    "badge-first": "看護師バッジを先にタッチしてください / Tap your nurse badge first",
    "wristband-first": "患者リストバンドを先にタッチしてください / Tap the patient's wristband first",
    "expired": "時間切れです。看護師バッジからやり直してください / Session expired: tap your badge again",
    "unknown-badge": "登録されていないバッジです / This badge is not registered",
    "unknown-patient": (
        "登録されていない患者リストバンドです。患者の選択を解除しました"
        " / This wristband is not registered to a patient: no patient is selected now"
    ),
    "device-pending": "登録されていない機器です。登録待ちにしました / Unregistered device: held for registration",
    "device-retired": "この機器は使用停止です / This device is retired",
    "no-observations": "測定値がありません / The device sent no reading",
    "store-failed": (
        "保存できませんでした。機器の記録は残っています。もう一度タッチしてください"
        " / The reading could not be stored: the device keeps it; tap again"
    ),
}

DISPLAY_UNITS = {"mm[Hg]": "mmHg", "Cel": "℃", "kg/m2": "kg/m²"}
DECIMALS = {"mm[Hg]": 0, "/min": 0, "%": 0, "Cel": 1, "kg": 1, "kg/m2": 1, "mg/dL": 0}
ORIGINAL_UNITS = {
    "MDC_DIM_KILO_PASCAL": "kPa", "MDC_DIM_MMHG": "mmHg", "MDC_DIM_FAHR": "°F", "MDC_DIM_DEGC": "℃",
    "MDC_DIM_LB": "lb", "MDC_DIM_KILO_G": "kg", "MDC_DIM_MILLI_MOLE_PER_L": "mmol/L", "MDC_DIM_MILLI_G_PER_DL": "mg/dL",
}  # fmt: skip


def shown_value(obs: Observation) -> tuple[str, str, str, str]:
    """(value, unit, original value, original unit) as shown; the original only when it differs."""
    unit = obs.normalized_unit or obs.unit
    if obs.normalized_value is None:
        return obs.value, DISPLAY_UNITS.get(unit, unit), "", ""
    try:
        same = abs(float(obs.value) - obs.normalized_value) < 1e-9
    except ValueError:
        same = False
    # unconverted: the device's own text keeps its precision (52.40 kg); converted: the display precision
    value = obs.value if same else f"{obs.normalized_value:.{DECIMALS.get(obs.normalized_unit, 1)}f}"
    original = "" if same else obs.value
    original_unit = "" if same else ORIGINAL_UNITS.get(obs.unit, obs.unit.removeprefix("MDC_DIM_"))
    return value, DISPLAY_UNITS.get(unit, unit), original, original_unit


def display_values(observations: list[Observation]) -> list[dict[str, str]]:
    out = []
    for o in observations:
        value, unit, original, original_unit = shown_value(o)
        name = NAMES.get(o.code.code, (o.code.display or o.code.code, o.code.display or o.code.code))
        out.append(
            {
                "code": o.code.code,
                "name_ja": name[0],
                "name_en": name[1],
                "value": value,
                "unit": unit,
                "original": f"{original} {original_unit}" if original else "",
                "time": o.effective.isoformat() if o.effective else "",
                "flags": ",".join(f for f in o.flags if f in ("historical", "clock_offset", "no_device_time")),
            }
        )
    return out

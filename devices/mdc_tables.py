"""IEEE 11073-10101 terms and units of the PHD specializations renkei decodes, with display names (ja, en).

`TERMS` is keyed by (partition, term code); `UNITS` by the MDC_PART_DIM code. Every unit carries its UCUM
code, its display text and how to normalise a value into the common unit readings add beside the
original (kPa -> mm[Hg], lb -> kg, degF -> Cel, mmol/L -> mg/dL, in -> cm). `SPECIALIZATION_TERMS` lists,
per specialization, the metric terms its standard names; tests walk it against these tables.

Sources (codes checked, not guessed): the CSR Synergy PHDC header `ieee_asn_nom_codes` (MDC_PART_DIM
units of 10415/10441, MDC_PART_PHD_HF 100..127), the Freescale 11073 stack `NomenclatureCodes.h`
(10417 glucose and context codes), the Java PHD nomenclature tables reproduced in several open Continua
managers (10420 body composition 57676..57692, 10421 PEF 21512..21515, 10442 MDC_HF_SET..MDC_HF_RESISTANCE
200..203, MDC_MODALITY_FAST/SLOW/SPOT 19508/19512/19516, 10408 site codes 57348..57384), and IEEE 11073
-10101 for the prefix rule (MDC_DIM_X_* + 3 = kilo, + 18 = milli).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

PART_SCADA = 2
PART_DIM = 4
PART_PHD_DM = 128
PART_PHD_HF = 129
PART_PHD_AI = 130

PARTITION_NAMES = {
    1: "MDC_PART_OBJ",
    2: "MDC_PART_SCADA",
    4: "MDC_PART_DIM",
    8: "MDC_PART_INFRA",
    128: "MDC_PART_PHD_DM",
    129: "MDC_PART_PHD_HF",
    130: "MDC_PART_PHD_AI",
    255: "MDC_PART_RET_CODE",
    256: "MDC_PART_EXT_NOM",
}


@dataclass(slots=True, frozen=True)
class Term:
    partition: int
    code: int
    refid: str
    en: str
    ja: str


def _same(v: float) -> float:
    return v


@dataclass(slots=True, frozen=True)
class Unit:
    code: int
    refid: str  # MDC reference id, kept as the reading's original unit
    ucum: str  # UCUM of the normalised unit
    normalize: Callable[[float], float] = _same
    display: str = ""  # how a person reads the original unit
    own_ucum: str = ""  # UCUM of the original unit itself


def _t(partition: int, code: int, refid: str, en: str, ja: str) -> Term:
    return Term(partition, code, refid, en, ja)


S, DM, HF = PART_SCADA, PART_PHD_DM, PART_PHD_HF

_TERM_LIST = [
    # 10404 pulse oximeter
    _t(S, 19384, "MDC_PULS_OXIM_SAT_O2", "SpO2", "SpO2"),
    _t(S, 18458, "MDC_PULS_OXIM_PULS_RATE", "Pulse rate", "脈拍"),
    _t(S, 19376, "MDC_PULS_OXIM_PERF_REL", "Perfusion index", "灌流指標"),
    _t(S, 19380, "MDC_PULS_OXIM_PLETH", "Plethysmogram", "脈波"),
    _t(S, 19532, "MDC_PULS_OXIM_DEV_STATUS", "Pulse oximeter device status", "パルスオキシメータ状態"),
    _t(S, 19508, "MDC_MODALITY_FAST", "fast response", "高速応答"),
    _t(S, 19512, "MDC_MODALITY_SLOW", "slow response", "低速応答"),
    _t(S, 19516, "MDC_MODALITY_SPOT", "spot check", "スポット測定"),
    # 10407 blood pressure
    _t(S, 18948, "MDC_PRESS_BLD_NONINV", "Blood pressure", "血圧"),
    _t(S, 18949, "MDC_PRESS_BLD_NONINV_SYS", "Systolic blood pressure", "収縮期血圧"),
    _t(S, 18950, "MDC_PRESS_BLD_NONINV_DIA", "Diastolic blood pressure", "拡張期血圧"),
    _t(S, 18951, "MDC_PRESS_BLD_NONINV_MEAN", "Mean blood pressure", "平均血圧"),
    _t(S, 18474, "MDC_PULS_RATE_NON_INV", "Pulse rate", "脈拍"),
    # 10408 thermometer (body temperature and measurement sites)
    _t(S, 19292, "MDC_TEMP_BODY", "Body temperature", "体温"),
    _t(S, 19320, "MDC_TEMP_TYMP", "Tympanic temperature", "鼓膜温"),
    _t(S, 57348, "MDC_TEMP_RECT", "Rectal temperature", "直腸温"),
    _t(S, 57352, "MDC_TEMP_ORAL", "Oral temperature", "口腔温"),
    _t(S, 57356, "MDC_TEMP_EAR", "Ear temperature", "耳温"),
    _t(S, 57360, "MDC_TEMP_FINGER", "Finger temperature", "指先温"),
    _t(S, 57376, "MDC_TEMP_TOE", "Toe temperature", "足指温"),
    _t(S, 57380, "MDC_TEMP_AXILLA", "Axillary temperature", "腋窩温"),
    _t(S, 57384, "MDC_TEMP_GIT", "Gastro-intestinal temperature", "消化管温"),
    # 10415 weighing scale
    _t(S, 57664, "MDC_MASS_BODY_ACTUAL", "Body weight", "体重"),
    _t(S, 57668, "MDC_LEN_BODY_ACTUAL", "Body height", "身長"),
    _t(S, 57680, "MDC_RATIO_MASS_BODY_LEN_SQ", "Body mass index", "BMI"),
    # 10417 glucose meter
    _t(S, 28948, "MDC_CONC_GLU_GEN", "Glucose", "血糖"),
    _t(S, 29112, "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD", "Glucose (capillary whole blood)", "血糖（毛細血管全血）"),
    _t(S, 29116, "MDC_CONC_GLU_CAPILLARY_PLASMA", "Glucose (capillary plasma)", "血糖（毛細血管血漿）"),
    _t(S, 29120, "MDC_CONC_GLU_VENOUS_WHOLEBLOOD", "Glucose (venous whole blood)", "血糖（静脈全血）"),
    _t(S, 29124, "MDC_CONC_GLU_VENOUS_PLASMA", "Glucose (venous plasma)", "血糖（静脈血漿）"),
    _t(S, 29128, "MDC_CONC_GLU_ARTERIAL_WHOLEBLOOD", "Glucose (arterial whole blood)", "血糖（動脈全血）"),
    _t(S, 29132, "MDC_CONC_GLU_ARTERIAL_PLASMA", "Glucose (arterial plasma)", "血糖（動脈血漿）"),
    _t(S, 29136, "MDC_CONC_GLU_CONTROL", "Glucose (control solution)", "血糖（コントロール液）"),
    _t(S, 29140, "MDC_CONC_GLU_ISF", "Glucose (interstitial fluid)", "血糖（間質液）"),
    _t(S, 29148, "MDC_CONC_HBA1C", "HbA1c", "HbA1c"),
    _t(DM, 29144, "MDC_GLU_METER_DEV_STATUS", "Glucose meter device status", "血糖計状態"),
    _t(DM, 29152, "MDC_CTXT_GLU_EXERCISE", "Exercise", "運動"),
    _t(DM, 29156, "MDC_CTXT_GLU_CARB", "Carbohydrate intake", "炭水化物摂取"),
    _t(DM, 29188, "MDC_CTXT_MEDICATION", "Medication", "服薬"),
    _t(DM, 29212, "MDC_CTXT_GLU_HEALTH", "Health state", "体調"),
    _t(DM, 29236, "MDC_CTXT_GLU_SAMPLELOCATION", "Sample location", "採血部位"),
    _t(DM, 29256, "MDC_CTXT_GLU_MEAL", "Meal", "食事"),
    _t(DM, 29276, "MDC_CTXT_GLU_TESTER", "Tester", "測定者"),
    # 10420 body composition analyzer
    _t(S, 57676, "MDC_BODY_FAT", "Body fat", "体脂肪率"),
    _t(S, 57684, "MDC_MASS_BODY_FAT_FREE", "Fat-free mass", "除脂肪量"),
    _t(S, 57688, "MDC_MASS_BODY_SOFT_LEAN", "Soft lean mass", "除脂肪軟組織量"),
    _t(S, 57692, "MDC_BODY_WATER", "Body water", "体水分量"),
    # 10421 peak expiratory flow monitor
    _t(S, 21512, "MDC_FLOW_AWAY_EXP_FORCED_PEAK", "Peak expiratory flow", "ピークフロー"),
    _t(S, 21513, "MDC_FLOW_AWAY_EXP_FORCED_PEAK_PB", "Peak expiratory flow personal best", "ピークフロー自己最高値"),
    _t(S, 21514, "MDC_VOL_AWAY_EXP_FORCED_1S", "FEV1", "1秒量"),
    _t(S, 21515, "MDC_VOL_AWAY_EXP_FORCED_6S", "FEV6", "6秒量"),
    _t(DM, 30720, "MDC_PEF_READING_STATUS", "PEF reading status", "ピークフロー測定状態"),
    # 10441 cardiovascular fitness and activity monitor
    _t(S, 20490, "MDC_RESP_RATE", "Respiration rate", "呼吸数"),
    _t(HF, 100, "MDC_HF_ALT_GAIN", "Altitude gain", "上昇高度"),
    _t(HF, 101, "MDC_HF_ALT_LOSS", "Altitude loss", "下降高度"),
    _t(HF, 102, "MDC_HF_ALT", "Altitude", "高度"),
    _t(HF, 103, "MDC_HF_DISTANCE", "Distance", "距離"),
    _t(HF, 104, "MDC_HF_ASC_TME_DIST", "Ascent time/distance", "上り時間・距離"),
    _t(HF, 105, "MDC_HF_DESC_TIME_DIST", "Descent time/distance", "下り時間・距離"),
    _t(HF, 106, "MDC_HF_LATITUDE", "Latitude", "緯度"),
    _t(HF, 107, "MDC_HF_LONGITUDE", "Longitude", "経度"),
    _t(HF, 108, "MDC_HF_PROGRAM_ID", "Program id", "プログラム番号"),
    _t(HF, 109, "MDC_HF_SLOPES", "Slopes", "傾斜回数"),
    _t(HF, 110, "MDC_HF_SPEED", "Speed", "速度"),
    _t(HF, 111, "MDC_HF_CAD", "Cadence", "ケイデンス"),
    _t(HF, 112, "MDC_HF_INCLINE", "Incline", "傾斜"),
    _t(HF, 113, "MDC_HF_HR_MAX_USER", "User's maximum heart rate", "最大心拍数"),
    _t(HF, 114, "MDC_HF_HR", "Heart rate", "心拍数"),
    _t(HF, 115, "MDC_HF_POWER", "Power", "パワー"),
    _t(HF, 116, "MDC_HF_RESIST", "Resistance", "負荷"),
    _t(HF, 117, "MDC_HF_STRIDE", "Stride length", "歩幅"),
    _t(HF, 119, "MDC_HF_ENERGY", "Energy expended", "消費エネルギー"),
    _t(HF, 120, "MDC_HF_CAL_INGEST", "Calories ingested", "摂取カロリー"),
    _t(HF, 121, "MDC_HF_CAL_INGEST_CARB", "Carbohydrate calories ingested", "摂取炭水化物カロリー"),
    _t(HF, 122, "MDC_HF_SUST_PA_THRESHOLD", "Sustained physical activity threshold", "持続運動閾値"),
    _t(HF, 123, "MDC_HF_SESSION", "Session", "セッション"),
    _t(HF, 124, "MDC_HF_SUBSESSION", "Subsession", "サブセッション"),
    _t(HF, 125, "MDC_HF_ACTIVITY_TIME", "Activity time", "活動時間"),
    _t(HF, 126, "MDC_HF_AGE", "Age", "年齢"),
    _t(HF, 127, "MDC_HF_ACTIVITY_INTENSITY", "Activity intensity", "活動強度"),
    # 10442 strength fitness equipment
    _t(HF, 200, "MDC_HF_SET", "Exercise set", "セット"),
    _t(HF, 201, "MDC_HF_REPETITION", "Repetition", "反復"),
    _t(HF, 202, "MDC_HF_REPETITION_COUNT", "Repetition count", "反復回数"),
    _t(HF, 203, "MDC_HF_RESISTANCE", "Resistance", "負荷"),
    _t(HF, 204, "MDC_HF_EXERCISE_POSITION", "Exercise position", "運動姿勢"),
    _t(HF, 205, "MDC_HF_EXERCISE_LATERALITY", "Exercise laterality", "運動側"),
    _t(HF, 206, "MDC_HF_EXERCISE_GRIP", "Exercise grip", "グリップ"),
    _t(HF, 207, "MDC_HF_EXERCISE_MOVEMENT", "Exercise movement", "運動動作"),
]

TERMS: dict[tuple[int, int], Term] = {(t.partition, t.code): t for t in _TERM_LIST}
TERMS_BY_REFID: dict[str, Term] = {t.refid: t for t in _TERM_LIST}

_KPA_TO_MMHG = 7.50062


def _u(code: int, refid: str, ucum: str, display: str, own: str = "", norm: Callable[[float], float] = _same) -> Unit:
    return Unit(code, refid, ucum, norm, display, own or ucum)


UNITS: dict[int, Unit] = {
    u.code: u
    for u in (
        _u(512, "MDC_DIM_DIMLESS", "1", ""),
        _u(544, "MDC_DIM_PERCENT", "%", "%"),
        _u(736, "MDC_DIM_ANG_DEG", "deg", "°"),
        _u(1280, "MDC_DIM_X_M", "m", "m"),
        _u(1283, "MDC_DIM_KILO_M", "m", "km", "km", lambda v: v * 1000.0),
        _u(1297, "MDC_DIM_CENTI_M", "cm", "cm"),
        _u(1344, "MDC_DIM_X_FOOT", "m", "ft", "[ft_i]", lambda v: v * 0.3048),
        _u(1376, "MDC_DIM_X_INCH", "cm", "in", "[in_i]", lambda v: v * 2.54),
        _u(1600, "MDC_DIM_X_L", "L", "L"),
        _u(1618, "MDC_DIM_MILLI_L", "L", "mL", "mL", lambda v: v / 1000.0),
        _u(1728, "MDC_DIM_X_G", "kg", "g", "g", lambda v: v / 1000.0),
        _u(1731, "MDC_DIM_KILO_G", "kg", "kg"),
        _u(1746, "MDC_DIM_MILLI_G", "kg", "mg", "mg", lambda v: v / 1_000_000.0),
        _u(1760, "MDC_DIM_LB", "kg", "lb", "[lb_av]", lambda v: v * 0.45359237),
        _u(1952, "MDC_DIM_KG_PER_M_SQ", "kg/m2", "kg/m²"),
        _u(2130, "MDC_DIM_MILLI_G_PER_DL", "mg/dL", "mg/dL"),
        _u(2176, "MDC_DIM_SEC", "s", "秒", "s"),
        _u(2208, "MDC_DIM_MIN", "min", "分", "min"),
        _u(2240, "MDC_DIM_HR", "h", "時間", "h"),
        _u(2272, "MDC_DIM_DAY", "d", "日", "d"),
        _u(2368, "MDC_DIM_YR", "a", "歳", "a"),
        _u(2720, "MDC_DIM_BEAT_PER_MIN", "/min", "bpm"),
        _u(2784, "MDC_DIM_RESP_PER_MIN", "/min", "回/分", "/min"),
        _u(3072, "MDC_DIM_X_L_PER_MIN", "L/min", "L/min"),
        _u(3843, "MDC_DIM_KILO_PASCAL", "mm[Hg]", "kPa", "kPa", lambda v: v * _KPA_TO_MMHG),
        _u(3872, "MDC_DIM_MMHG", "mm[Hg]", "mmHg"),
        _u(3968, "MDC_DIM_X_JOULES", "J", "J"),
        _u(4032, "MDC_DIM_X_WATT", "W", "W"),
        _u(4416, "MDC_DIM_FAHR", "Cel", "°F", "[degF]", lambda v: (v - 32.0) * 5.0 / 9.0),
        _u(4722, "MDC_DIM_MILLI_MOLE_PER_L", "mg/dL", "mmol/L", "mmol/L", lambda v: v * 18.0),
        _u(6048, "MDC_DIM_DEGC", "Cel", "℃"),
        _u(6560, "MDC_DIM_X_M_PER_MIN", "m/min", "m/min"),
        _u(6656, "MDC_DIM_X_STEP", "{steps}", "歩", "{steps}"),
        _u(6688, "MDC_DIM_X_FOOT_PER_MIN", "m/min", "ft/min", "[ft_i]/min", lambda v: v * 0.3048),
        _u(6720, "MDC_DIM_X_INCH_PER_MIN", "cm/min", "in/min", "[in_i]/min", lambda v: v * 2.54),
        _u(6752, "MDC_DIM_X_STEP_PER_MIN", "{steps}/min", "歩/分", "{steps}/min"),
        _u(6784, "MDC_DIM_X_CAL", "cal", "cal"),
        _u(6787, "MDC_DIM_KILO_CAL", "kcal", "kcal"),
        _u(6816, "MDC_DIM_RPM", "{rev}/min", "rpm", "{rev}/min"),
    )
}

UNITS_BY_REFID: dict[str, Unit] = {u.refid: u for u in UNITS.values()}

# specialization -> (its standard's number, metric terms by reference id, units it names)
SPECIALIZATION_TERMS: dict[str, tuple[str, list[str], list[str]]] = {
    "pulse-oximeter": (
        "10404",
        ["MDC_PULS_OXIM_SAT_O2", "MDC_PULS_OXIM_PULS_RATE", "MDC_PULS_OXIM_PERF_REL", "MDC_PULS_OXIM_PLETH",
         "MDC_PULS_OXIM_DEV_STATUS", "MDC_MODALITY_FAST", "MDC_MODALITY_SLOW", "MDC_MODALITY_SPOT"],
        ["MDC_DIM_PERCENT", "MDC_DIM_BEAT_PER_MIN", "MDC_DIM_DIMLESS"],
    ),
    "blood-pressure": (
        "10407",
        ["MDC_PRESS_BLD_NONINV", "MDC_PRESS_BLD_NONINV_SYS", "MDC_PRESS_BLD_NONINV_DIA",
         "MDC_PRESS_BLD_NONINV_MEAN", "MDC_PULS_RATE_NON_INV"],
        ["MDC_DIM_MMHG", "MDC_DIM_KILO_PASCAL", "MDC_DIM_BEAT_PER_MIN"],
    ),
    "thermometer": (
        "10408",
        ["MDC_TEMP_BODY", "MDC_TEMP_TYMP", "MDC_TEMP_RECT", "MDC_TEMP_ORAL", "MDC_TEMP_EAR", "MDC_TEMP_FINGER",
         "MDC_TEMP_TOE", "MDC_TEMP_AXILLA", "MDC_TEMP_GIT"],
        ["MDC_DIM_DEGC", "MDC_DIM_FAHR"],
    ),
    "weighing-scale": (
        "10415",
        ["MDC_MASS_BODY_ACTUAL", "MDC_LEN_BODY_ACTUAL", "MDC_RATIO_MASS_BODY_LEN_SQ"],
        ["MDC_DIM_KILO_G", "MDC_DIM_LB", "MDC_DIM_CENTI_M", "MDC_DIM_X_INCH", "MDC_DIM_KG_PER_M_SQ"],
    ),
    "glucose-meter": (
        "10417",
        ["MDC_CONC_GLU_GEN", "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD", "MDC_CONC_GLU_CAPILLARY_PLASMA",
         "MDC_CONC_GLU_VENOUS_WHOLEBLOOD", "MDC_CONC_GLU_VENOUS_PLASMA", "MDC_CONC_GLU_ARTERIAL_WHOLEBLOOD",
         "MDC_CONC_GLU_ARTERIAL_PLASMA", "MDC_CONC_GLU_CONTROL", "MDC_CONC_GLU_ISF", "MDC_CONC_HBA1C",
         "MDC_GLU_METER_DEV_STATUS", "MDC_CTXT_GLU_EXERCISE", "MDC_CTXT_GLU_CARB", "MDC_CTXT_MEDICATION",
         "MDC_CTXT_GLU_HEALTH", "MDC_CTXT_GLU_SAMPLELOCATION", "MDC_CTXT_GLU_MEAL", "MDC_CTXT_GLU_TESTER"],
        ["MDC_DIM_MILLI_G_PER_DL", "MDC_DIM_MILLI_MOLE_PER_L", "MDC_DIM_PERCENT", "MDC_DIM_X_G", "MDC_DIM_MILLI_G",
         "MDC_DIM_MILLI_L", "MDC_DIM_MIN"],
    ),
    "body-composition": (
        "10420",
        ["MDC_MASS_BODY_ACTUAL", "MDC_LEN_BODY_ACTUAL", "MDC_RATIO_MASS_BODY_LEN_SQ", "MDC_BODY_FAT",
         "MDC_MASS_BODY_FAT_FREE", "MDC_MASS_BODY_SOFT_LEAN", "MDC_BODY_WATER"],
        ["MDC_DIM_KILO_G", "MDC_DIM_LB", "MDC_DIM_CENTI_M", "MDC_DIM_X_INCH", "MDC_DIM_PERCENT",
         "MDC_DIM_KG_PER_M_SQ"],
    ),
    "peak-flow": (
        "10421",
        ["MDC_FLOW_AWAY_EXP_FORCED_PEAK", "MDC_FLOW_AWAY_EXP_FORCED_PEAK_PB", "MDC_VOL_AWAY_EXP_FORCED_1S",
         "MDC_VOL_AWAY_EXP_FORCED_6S", "MDC_PEF_READING_STATUS"],
        ["MDC_DIM_X_L_PER_MIN", "MDC_DIM_X_L"],
    ),
    "cardiovascular": (
        "10441",
        ["MDC_RESP_RATE", "MDC_PULS_RATE_NON_INV"]
        + [t.refid for t in _TERM_LIST if t.partition == HF and 100 <= t.code <= 127],
        ["MDC_DIM_DIMLESS", "MDC_DIM_ANG_DEG", "MDC_DIM_X_M", "MDC_DIM_KILO_M", "MDC_DIM_X_FOOT", "MDC_DIM_X_INCH",
         "MDC_DIM_X_G", "MDC_DIM_KILO_G", "MDC_DIM_LB", "MDC_DIM_X_M_PER_MIN", "MDC_DIM_YR", "MDC_DIM_X_JOULES",
         "MDC_DIM_X_WATT", "MDC_DIM_BEAT_PER_MIN", "MDC_DIM_RESP_PER_MIN", "MDC_DIM_X_STEP",
         "MDC_DIM_X_FOOT_PER_MIN", "MDC_DIM_X_INCH_PER_MIN", "MDC_DIM_X_STEP_PER_MIN", "MDC_DIM_X_CAL",
         "MDC_DIM_KILO_CAL", "MDC_DIM_RPM", "MDC_DIM_SEC", "MDC_DIM_MIN", "MDC_DIM_HR", "MDC_DIM_DAY"],
    ),
    "strength": (
        "10442",
        [t.refid for t in _TERM_LIST if t.partition == HF and 200 <= t.code <= 207] + ["MDC_HF_ENERGY"],
        ["MDC_DIM_DIMLESS", "MDC_DIM_KILO_G", "MDC_DIM_LB", "MDC_DIM_X_CAL", "MDC_DIM_KILO_CAL", "MDC_DIM_SEC"],
    ),
}

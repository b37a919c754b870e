"""IEEE 11073-10101 nomenclature used by renkei's device codecs, and unit normalisation.

Codes are the 16-bit term codes within their partition (SpO2 = 19384 in MDC_PART_SCADA); `mdc_cf_code`
gives the 32-bit context-free code (partition << 16 | term) that FHIR's urn:iso:std:iso:11073:10101
system uses. `UNITS` maps an MDC unit code to its reference id and how to normalise it: readings keep the
original value and unit, and add a normalised value in UCUM (mmHg, kg, Cel, mg/dL …).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# partitions
MDC_PART_OBJ = 1
MDC_PART_SCADA = 2
MDC_PART_DIM = 4
MDC_PART_INFRA = 8

# object classes
MDC_MOC_VMO_METRIC = 4
MDC_MOC_VMO_METRIC_ENUM = 5
MDC_MOC_VMO_METRIC_NU = 6
MDC_MOC_VMO_METRIC_SA_RT = 9
MDC_MOC_SCAN_CFG_EPI = 18
MDC_MOC_SCAN_CFG_PERI = 19
MDC_MOC_VMS_MDS_SIMP = 37
MDC_MOC_VMO_PMSTORE = 61

# attributes
MDC_ATTR_CONFIRM_MODE = 2323
MDC_ATTR_ID_MODEL = 2344
MDC_ATTR_ID_TYPE = 2351
MDC_ATTR_MSMT_STAT = 2375
MDC_ATTR_NU_CMPD_VAL_OBS = 2379
MDC_ATTR_NU_VAL_OBS = 2384
MDC_ATTR_OP_STAT = 2387
MDC_ATTR_SYS_ID = 2436
MDC_ATTR_SYS_TYPE = 2438
MDC_ATTR_TIME_ABS = 2439
MDC_ATTR_TIME_STAMP_ABS = 2448
MDC_ATTR_TIME_STAMP_REL = 2449
MDC_ATTR_UNIT_CODE = 2454
MDC_ATTR_DEV_CONFIG_ID = 2628
MDC_ATTR_METRIC_SPEC_SMALL = 2630
MDC_ATTR_ENUM_OBS_VAL_SIMP_OID = 2633
MDC_ATTR_NU_VAL_OBS_BASIC = 2636
MDC_ATTR_SCAN_HANDLE_ATTR_VAL_MAP = 2643
MDC_ATTR_ATTRIBUTE_VAL_MAP = 2645
MDC_ATTR_NU_VAL_OBS_SIMP = 2646
MDC_ATTR_SYS_TYPE_SPEC_LIST = 2650
MDC_ATTR_SUPPLEMENTAL_TYPES = 2657
MDC_ATTR_ENUM_OBS_VAL_SIMP_BIT_STR = 2661
MDC_ATTR_ENUM_OBS_VAL_BASIC_BIT_STR = 2662
MDC_ATTR_METRIC_STRUCT_SMALL = 2675
MDC_ATTR_NU_CMPD_VAL_OBS_SIMP = 2676
MDC_ATTR_NU_CMPD_VAL_OBS_BASIC = 2677
MDC_ATTR_ID_PHYSIO_LIST = 2678

# notifications (event types) and actions
MDC_NOTI_CONFIG = 0x0D1C
MDC_NOTI_SCAN_REPORT_FIXED = 0x0D1D
MDC_NOTI_SCAN_REPORT_VAR = 0x0D1E
MDC_NOTI_SCAN_REPORT_MP_FIXED = 0x0D1F
MDC_NOTI_SCAN_REPORT_MP_VAR = 0x0D20
MDC_NOTI_SEGMENT_DATA = 0x0D21
MDC_NOTI_UNBUF_SCAN_REPORT_VAR = 0x0D22
MDC_NOTI_UNBUF_SCAN_REPORT_FIXED = 0x0D23
MDC_NOTI_UNBUF_SCAN_REPORT_GROUPED = 0x0D24
MDC_NOTI_UNBUF_SCAN_REPORT_MP_VAR = 0x0D25
MDC_NOTI_UNBUF_SCAN_REPORT_MP_FIXED = 0x0D26
MDC_NOTI_UNBUF_SCAN_REPORT_MP_GROUPED = 0x0D27
MDC_NOTI_BUF_SCAN_REPORT_VAR = 0x0D28
MDC_NOTI_BUF_SCAN_REPORT_FIXED = 0x0D29
MDC_NOTI_BUF_SCAN_REPORT_GROUPED = 0x0D2A
MDC_NOTI_BUF_SCAN_REPORT_MP_VAR = 0x0D2B
MDC_NOTI_BUF_SCAN_REPORT_MP_FIXED = 0x0D2C
MDC_NOTI_BUF_SCAN_REPORT_MP_GROUPED = 0x0D2D
MDC_ACT_SET_TIME = 3095
MDC_ACT_DATA_REQUEST = 3099

# SCADA terms (MDC_PART_SCADA)
MDC_PULS_OXIM_SAT_O2 = 19384
MDC_PULS_OXIM_PULS_RATE = 18458
MDC_PRESS_BLD_NONINV = 18948
MDC_PRESS_BLD_NONINV_SYS = 18949
MDC_PRESS_BLD_NONINV_DIA = 18950
MDC_PRESS_BLD_NONINV_MEAN = 18951
MDC_PULS_RATE_NON_INV = 18474
MDC_TEMP_BODY = 19292
MDC_MASS_BODY_ACTUAL = 57664
MDC_BODY_MASS_INDEX = 57680
MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD = 29112

# units (MDC_PART_DIM)
MDC_DIM_PERCENT = 544
MDC_DIM_BEAT_PER_MIN = 2720
MDC_DIM_MMHG = 3872
MDC_DIM_KILO_PASCAL = 3843
MDC_DIM_DEGC = 6048
MDC_DIM_FAHR = 4416
MDC_DIM_X_G = 1728
MDC_DIM_KILO_G = 1731
MDC_DIM_LB = 1760
MDC_DIM_KG_PER_M_SQ = 1952
MDC_DIM_MILLI_G_PER_DL = 2130
MDC_DIM_MILLI_MOLE_PER_L = 4722

TERMS: dict[int, str] = {
    MDC_PULS_OXIM_SAT_O2: "MDC_PULS_OXIM_SAT_O2",
    MDC_PULS_OXIM_PULS_RATE: "MDC_PULS_OXIM_PULS_RATE",
    MDC_PRESS_BLD_NONINV: "MDC_PRESS_BLD_NONINV",
    MDC_PRESS_BLD_NONINV_SYS: "MDC_PRESS_BLD_NONINV_SYS",
    MDC_PRESS_BLD_NONINV_DIA: "MDC_PRESS_BLD_NONINV_DIA",
    MDC_PRESS_BLD_NONINV_MEAN: "MDC_PRESS_BLD_NONINV_MEAN",
    MDC_PULS_RATE_NON_INV: "MDC_PULS_RATE_NON_INV",
    MDC_TEMP_BODY: "MDC_TEMP_BODY",
    MDC_MASS_BODY_ACTUAL: "MDC_MASS_BODY_ACTUAL",
    MDC_BODY_MASS_INDEX: "MDC_BODY_MASS_INDEX",
    MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD: "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD",
}


def _same(v: float) -> float:
    return v


@dataclass(slots=True, frozen=True)
class Unit:
    code: int
    refid: str  # MDC reference id, kept as the reading's original unit
    ucum: str  # UCUM of the normalised unit
    normalize: Callable[[float], float] = _same


UNITS: dict[int, Unit] = {
    u.code: u
    for u in (
        Unit(MDC_DIM_PERCENT, "MDC_DIM_PERCENT", "%"),
        Unit(MDC_DIM_BEAT_PER_MIN, "MDC_DIM_BEAT_PER_MIN", "/min"),
        Unit(MDC_DIM_MMHG, "MDC_DIM_MMHG", "mm[Hg]"),
        Unit(MDC_DIM_KILO_PASCAL, "MDC_DIM_KILO_PASCAL", "mm[Hg]", lambda v: v * 7.50062),
        Unit(MDC_DIM_DEGC, "MDC_DIM_DEGC", "Cel"),
        Unit(MDC_DIM_FAHR, "MDC_DIM_FAHR", "Cel", lambda v: (v - 32.0) * 5.0 / 9.0),
        Unit(MDC_DIM_KILO_G, "MDC_DIM_KILO_G", "kg"),
        Unit(MDC_DIM_X_G, "MDC_DIM_X_G", "kg", lambda v: v / 1000.0),
        Unit(MDC_DIM_LB, "MDC_DIM_LB", "kg", lambda v: v * 0.45359237),
        Unit(MDC_DIM_KG_PER_M_SQ, "MDC_DIM_KG_PER_M_SQ", "kg/m2"),
        Unit(MDC_DIM_MILLI_G_PER_DL, "MDC_DIM_MILLI_G_PER_DL", "mg/dL"),
        Unit(MDC_DIM_MILLI_MOLE_PER_L, "MDC_DIM_MILLI_MOLE_PER_L", "mg/dL", lambda v: v * 18.0),
    )
}

# MeasurementStatus bits (20601 §A.7.4.2) -> flag name kept on the Observation
MEASUREMENT_STATUS_FLAGS: dict[int, str] = {
    0x8000: "invalid",
    0x4000: "questionable",
    0x2000: "not-available",
    0x1000: "calibration-ongoing",
    0x0800: "test-data",
    0x0400: "demo-data",
    0x0080: "validated-data",
    0x0040: "early-indication",
    0x0020: "msmt-ongoing",
}

# well-known standard configuration ids -> specialization name
SPECIALIZATIONS: dict[int, str] = {
    0x0190: "pulse-oximeter",
    0x0191: "pulse-oximeter",
    0x02BC: "blood-pressure",
    0x0320: "thermometer",
    0x05DC: "weighing-scale",
    0x06A4: "glucose-meter",
}

EXTENDED_CONFIG_MIN = 0x4000


def term_name(code: int) -> str:
    return TERMS.get(code, f"MDC_{code}")


def unit_refid(code: int) -> str:
    unit = UNITS.get(code)
    return unit.refid if unit else f"MDC_DIM_{code}"


def mdc_cf_code(partition: int, term: int) -> int:
    """32-bit context-free code: e.g. SpO2 (SCADA 19384) -> 150456."""
    return (partition << 16) | term


def status_flags(status: int) -> list[str]:
    return [name for bit, name in MEASUREMENT_STATUS_FLAGS.items() if status & bit]

"""IEEE 11073-10101 nomenclature used by renkei's device codecs, and unit normalisation.

Codes are the 16-bit term codes within their partition (SpO2 = 19384 in MDC_PART_SCADA); `mdc_cf_code`
gives the 32-bit context-free code (partition << 16 | term) that FHIR's urn:iso:std:iso:11073:10101
system uses. `UNITS` maps an MDC unit code to its reference id and how to normalise it: readings keep the
original value and unit, and add a normalised value in UCUM (mmHg, kg, Cel, mg/dL …).
"""

from __future__ import annotations

from renkei.devices import mdc_tables

# partitions
MDC_PART_OBJ = 1
MDC_PART_SCADA = 2
MDC_PART_DIM = 4
MDC_PART_INFRA = 8
MDC_PART_PHD_DM = 128
MDC_PART_PHD_HF = 129

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
MDC_ATTR_ID_LABEL_STRING = 2343
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
MDC_ATTR_TIME_REL = 2447
MDC_ATTR_TIME_STAMP_REL = 2449
MDC_ATTR_UNIT_CODE = 2454
MDC_ATTR_UNIT_LABEL_STRING = 2457
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
MDC_ATTR_TIME_BO = 2689  # base-offset time (20601-2019 §8.5.3): seconds since 1970 UTC + local offset
MDC_ATTR_TIME_STAMP_BO = 2690

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
MDC_LEN_BODY_ACTUAL = 57668
MDC_BODY_FAT = 57676
MDC_BODY_MASS_INDEX = 57680  # reference id MDC_RATIO_MASS_BODY_LEN_SQ
MDC_MODALITY_FAST = 19508
MDC_MODALITY_SLOW = 19512
MDC_MODALITY_SPOT = 19516
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
MDC_DIM_CENTI_M = 1297
MDC_DIM_DIMLESS = 512

TERMS = mdc_tables.TERMS  # (partition, code) -> Term with reference id and ja/en display names
UNITS = mdc_tables.UNITS  # MDC_PART_DIM code -> Unit (reference id, UCUM, display, normalisation)
Unit = mdc_tables.Unit
UNITS_BY_REFID = mdc_tables.UNITS_BY_REFID

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


def partition_name(partition: int) -> str:
    return mdc_tables.PARTITION_NAMES.get(partition, f"MDC_PART_{partition}")


def term_name(code: int, partition: int = MDC_PART_SCADA) -> str:
    """Reference id of a term; a code outside the tables is named by partition and kept: `MDC_PART_SCADA:57999`."""
    term = TERMS.get((partition, code))
    return term.refid if term else f"{partition_name(partition)}:{code}"


def display_name(code: int, partition: int = MDC_PART_SCADA, lang: str = "ja") -> str:
    """What a person reads: 「体脂肪率」 / "Body fat"; an unknown code keeps its partition-qualified name."""
    term = TERMS.get((partition, code))
    if term is None:
        return term_name(code, partition)
    return term.ja if lang == "ja" else term.en


def unit_refid(code: int) -> str:
    unit = UNITS.get(code)
    return unit.refid if unit else f"MDC_PART_DIM:{code}"


def unit_display(code: int) -> str:
    unit = UNITS.get(code)
    return unit.display if unit else f"MDC_PART_DIM:{code}"


def mdc_cf_code(partition: int, term: int) -> int:
    """32-bit context-free code: e.g. SpO2 (SCADA 19384) -> 150456."""
    return (partition << 16) | term


def status_flags(status: int) -> list[str]:
    return [name for bit, name in MEASUREMENT_STATUS_FLAGS.items() if status & bit]


def names_of(code_text: str, lang: str = "ja") -> str:
    """Display name of an Observation code as `readings.metric_code` writes it ("19384", cf code, "19384/19508")."""
    base, _, modality = code_text.partition("/")
    if not base.isdigit():
        return code_text
    number = int(base)
    partition, term = (number >> 16, number & 0xFFFF) if number > 0xFFFF else (MDC_PART_SCADA, number)
    name = display_name(term, partition, lang)
    if modality.isdigit():
        name = f"{name} ({display_name(int(modality), MDC_PART_SCADA, lang)})"
    return name

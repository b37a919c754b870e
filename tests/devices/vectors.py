"""Hand-built IEEE 11073-20601 byte vectors shared by the device tests.

Each vector is written field by field from the 20601 layout. Where noted, the bytes are the published
example exchanges (20601 annex examples as reproduced in open-source managers/agents): the LNIAGENT
weighing-scale AARQ and its fixed scan report (Atmel ASF's PHDC demo), and the pulse-oximeter scanner
reports and confirmed SET from signove/antidote `tests/resources/apdu/pulse_oximeter/description`.
"""

from __future__ import annotations


def h(text: str) -> bytes:
    """Hex with comments: everything after '#' on a line is ignored."""
    return bytes.fromhex("".join(line.split("#", 1)[0] for line in text.splitlines()))


# AARQ of the annex weighing scale (extended config 0x4000), as in Atmel ASF's PHDC agent demo
AARQ_SCALE_4000 = h("""
E2 00             # APDU choice AARQ
00 32             # length 50
80 00 00 00       # assoc-version 1
00 01 00 2A       # data-proto-list count 1, length 42
50 79             # data-proto-id 20601
00 26             # data-proto-info length 38
80 00 00 00       # protocolVersion 1
80 00             # encodingRules MDER
80 00 00 00       # nomenclatureVersion 1
00 00 00 00       # functionalUnits: none
00 80 00 00       # systemType agent
00 08 4C 4E 49 41 47 45 4E 54   # system-id "LNIAGENT"
40 00             # dev-config-id 0x4000 (extended)
00 01             # data-req-mode-flags: agent-initiated
01 00             # init agent count 1, manager count 0
00 00 00 00       # optionList empty
""")

# AARE accepted-unknown-config from manager system id 88 77 66 55 44 33 22 11
AARE_UNKNOWN_CONFIG = h("""
E3 00 00 2C       # AARE, length 44
00 03             # result accepted-unknown-config
50 79 00 26       # data-proto-id 20601, info length 38
80 00 00 00 80 00 80 00 00 00   # protocol v1, MDER, nomenclature v1
00 00 00 00       # functionalUnits
80 00 00 00       # systemType manager
00 08 88 77 66 55 44 33 22 11   # manager system-id
00 00             # dev-config-id 0 (manager)
00 00 00 00       # data-req-mode-capab all zero
00 00 00 00       # optionList empty
""")

# Config report of that scale: handle 1 body mass (kg), handle 3 BMI (kg/m2); FLOAT + abs time each
CONFIG_SCALE_4000 = h("""
E7 00 00 70       # PRST, length 112
00 6E             # octet string length 110
12 34             # invoke-id
01 01 00 68       # confirmed event report, length 104
00 00             # obj-handle 0 (MDS)
FF FF FF FF       # event-time
0D 1C 00 5E       # MDC_NOTI_CONFIG, event-info length 94
40 00             # config-report-id 0x4000
00 02 00 58       # config-obj-list count 2, length 88
00 06 00 01       # MDC_MOC_VMO_METRIC_NU, handle 1
00 04 00 24       # 4 attributes, 36 bytes
09 2F 00 04 00 02 E1 40         # Type: SCADA, MDC_MASS_BODY_ACTUAL (57664)
0A 46 00 02 F0 40               # Metric-Spec-Small
09 96 00 02 06 C3               # Unit-Code kg (1731)
0A 55 00 0C 00 02 00 08 0A 56 00 04 09 90 00 08   # AVM: Simple-Nu (4), Abs-Time-Stamp (8)
00 06 00 03       # MDC_MOC_VMO_METRIC_NU, handle 3
00 04 00 24
09 2F 00 04 00 02 E1 50         # Type: MDC_BODY_MASS_INDEX (57680)
0A 46 00 02 F0 40
09 96 00 02 07 A0               # Unit-Code kg m-2 (1952)
0A 55 00 0C 00 02 00 08 0A 56 00 04 09 90 00 08
""")

# Manager's confirmation of it
CONFIG_RSP_4000 = h("""
E7 00 00 16 00 14 # PRST length 22, octet string 20
12 34             # invoke-id echoed
02 01 00 0E       # RORS confirmed event report, length 14
00 00             # obj-handle 0
00 00 00 00       # currentTime 0
0D 1C 00 04       # MDC_NOTI_CONFIG, reply length 4
40 00 00 00       # config-report-id 0x4000, accepted-config
""")

# Fixed scan report of that scale (Atmel ASF phd_measure): 4 observations
SCAN_FIXED_SCALE = h("""
E7 00 00 5A 00 58 # PRST length 90, octet string 88
12 36             # invoke-id
01 01 00 52       # confirmed event report, length 82
00 00 00 00 00 00 # obj-handle 0, event-time 0
0D 1D 00 48       # MDC_NOTI_SCAN_REPORT_FIXED, length 72
F0 00 00 00       # data-req-id agent-initiated, scan-report-no 0
00 04 00 40       # 4 observations, 64 bytes
00 01 00 0C FF 00 02 FA 20 07 12 06 12 10 00 00   # handle 1: 76.2 kg at 2007-12-06 12:10
00 03 00 0C FF 00 00 F3 20 09 06 12 12 10 00 00   # handle 3: BMI 24.3 at 2009-06-12 12:10
00 01 00 0C FF 00 02 F8 20 09 06 12 20 05 00 00   # handle 1: 76.0 kg at 2009-06-12 20:05
00 03 00 0C FF 00 00 F2 20 09 06 12 20 05 00 00   # handle 3: BMI 24.2
""")

SCAN_FIXED_SCALE_RSP = h("E7 00 00 12 00 10 12 36 02 01 00 0A 00 00 00 00 00 00 0D 1D 00 00")

# Pulse oximeter (standard config 0x0190) AARQ, system id 00 11 22 33 44 55 66 77
AARQ_SPO2_0190 = h("""
E2 00 00 32 80 00 00 00 00 01 00 2A 50 79 00 26
80 00 00 00 80 00 80 00 00 00 00 00 00 00 00 80 00 00
00 08 00 11 22 33 44 55 66 77
01 90             # dev-config-id 0x0190 (standard pulse oximeter)
00 01 01 00 00 00 00 00
""")

# antidote description: "Unbuf Scan Report Fixed (Pulse Oximeter)"
UNBUF_FIXED_SPO2 = h("""
E7 00 00 36 00 34 12 38
01 01 00 2E 00 37 FF FF FF FF
0D 23 00 24       # MDC_NOTI_UNBUF_SCAN_REPORT_FIXED
F0 00 00 00 00 02 00 1C
00 01 00 0A 00 62 20 07 12 06 12 10 00 00   # SpO2 98 %
00 0A 00 0A 00 48 20 07 12 06 12 10 00 00   # pulse 72 bpm
""")

# antidote description: "Unbuf Scan Report MP Fixed (Pulse Oximeter)"
UNBUF_MP_FIXED_SPO2 = h("""
E7 00 00 3C 00 3A 12 38 01 01 00 34 00 37 FF FF FF FF
0D 26 00 2A       # MDC_NOTI_UNBUF_SCAN_REPORT_MP_FIXED
F0 00 00 00
00 01 00 22 00 01 # 1 person block, 34 bytes, person-id 1
00 02 00 1C
00 01 00 0A 00 62 20 07 12 06 12 10 00 00
00 0A 00 0A 00 48 20 07 12 06 12 10 00 00
""")

# antidote description: "Unbuf Scan Report Var (Pulse Oximeter)"
UNBUF_VAR_SPO2 = h("""
E7 00 00 4A 00 48 12 38 01 01 00 42 00 37 FF FF FF FF
0D 22 00 38       # MDC_NOTI_UNBUF_SCAN_REPORT_VAR
F0 00 00 00 00 02 00 30
00 01 00 02 00 12 0A 4C 00 02 00 62 09 90 00 08 20 07 12 06 12 10 00 00
00 0A 00 02 00 12 0A 4C 00 02 00 48 09 90 00 08 20 07 12 06 12 10 00 00
""")

# antidote description: "Episodic Scanner - Confirmed SET" and its response
CONFIRMED_SET = h("""
E7 00 00 16 00 14 00 00
01 05 00 0E       # confirmed set, length 14
00 37             # handle 55
00 01 00 08       # modification list count 1, length 8
00 00 09 53 00 02 00 01   # replace, MDC_ATTR_OP_STAT = 1
""")
SET_RESULT = h("""
E7 00 00 14 00 12 00 00
02 05 00 0C 00 37 # rors confirmed set, handle 55
00 01 00 06 09 53 00 02 00 01
""")

# GET of all MDS attributes (manager -> agent) and a result carrying the System-Id
GET_MDS = h("E7 00 00 0E 00 0C 34 56 01 03 00 06 00 00 00 00 00 00")
GET_RESULT = h("""
E7 00 00 1C 00 1A 34 56
02 03 00 14 00 00 # rors get, length 20, handle 0
00 01 00 0E       # attribute list count 1, length 14
09 84 00 0A 00 08 00 11 22 33 44 55 66 77   # MDC_ATTR_SYS_ID
""")

# Set-Time action (MDC_ACT_SET_TIME 0x0C17): AbsoluteTime + accuracy FLOAT, and its result
SET_TIME = h("""
E7 00 00 1A 00 18 00 02
01 07 00 12 00 00 0C 17 00 0C
20 24 05 01 07 30 00 00   # 2024-05-01 07:30:00.00
00 00 00 00               # accuracy 0
""")
SET_TIME_RESULT = h("E7 00 00 0E 00 0C 00 02 02 07 00 06 00 00 0C 17 00 00")

ROER = h("E7 00 00 0C 00 0A 00 05 03 00 00 04 00 11 00 00")  # invalid-object-instance (17)
RORJ = h("E7 00 00 0A 00 08 00 05 04 00 00 02 00 65")  # unrecognized-operation (101)
RLRQ = h("E4 00 00 02 00 00")
RLRE = h("E5 00 00 02 00 00")
ABRT = h("E6 00 00 02 00 02")  # response-timeout

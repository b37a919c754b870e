"""IEEE 11073-20601 by the standard: time attributes, nomenclature tables, length checks, reasons, modality,
private labels. Byte sequences are written field by field from the 20601 layout (not from renkei's encoder).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import device_vectors as v
import pytest
from click.testing import CliRunner

from renkei.bin.cli import main as cli
from renkei.devices import mdc_tables as tables
from renkei.devices import nomenclature as mdc
from renkei.devices import phd_reports as rep
from renkei.devices.describe import decode_capture
from renkei.devices.errors import DeviceCodecError
from renkei.devices.ieee11073 import decode_apdu, split_apdus
from renkei.devices.mder import Reader
from renkei.devices.phd_configs import Configuration
from renkei.devices.phd_manager import ManagerState, PhdManager

# The specializations' metric terms and units as listed in the standards (10404 §6.7, 10407 §6.7, 10408
# §6.7, 10415 §6.7, 10417 §6.7, 10420 §6.7, 10421 §6.7, 10441 §6.7, 10442 §6.7) with their MDC codes as
# reproduced by the CSR/Freescale/Continua nomenclature headers (see devices/mdc_tables.py).
STANDARD_TERMS = {
    "10404": {19384: "MDC_PULS_OXIM_SAT_O2", 18458: "MDC_PULS_OXIM_PULS_RATE", 19376: "MDC_PULS_OXIM_PERF_REL",
              19508: "MDC_MODALITY_FAST", 19512: "MDC_MODALITY_SLOW", 19516: "MDC_MODALITY_SPOT"},
    "10407": {18948: "MDC_PRESS_BLD_NONINV", 18949: "MDC_PRESS_BLD_NONINV_SYS", 18950: "MDC_PRESS_BLD_NONINV_DIA",
              18951: "MDC_PRESS_BLD_NONINV_MEAN", 18474: "MDC_PULS_RATE_NON_INV"},
    "10408": {19292: "MDC_TEMP_BODY", 57348: "MDC_TEMP_RECT", 57352: "MDC_TEMP_ORAL", 57356: "MDC_TEMP_EAR",
              57360: "MDC_TEMP_FINGER", 57376: "MDC_TEMP_TOE", 57380: "MDC_TEMP_AXILLA", 57384: "MDC_TEMP_GIT",
              19320: "MDC_TEMP_TYMP"},
    "10415": {57664: "MDC_MASS_BODY_ACTUAL", 57668: "MDC_LEN_BODY_ACTUAL", 57680: "MDC_RATIO_MASS_BODY_LEN_SQ"},
    "10417": {29112: "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD", 29116: "MDC_CONC_GLU_CAPILLARY_PLASMA",
              29120: "MDC_CONC_GLU_VENOUS_WHOLEBLOOD", 29124: "MDC_CONC_GLU_VENOUS_PLASMA",
              29128: "MDC_CONC_GLU_ARTERIAL_WHOLEBLOOD", 29132: "MDC_CONC_GLU_ARTERIAL_PLASMA",
              29136: "MDC_CONC_GLU_CONTROL", 29140: "MDC_CONC_GLU_ISF", 29148: "MDC_CONC_HBA1C"},
    "10420": {57676: "MDC_BODY_FAT", 57684: "MDC_MASS_BODY_FAT_FREE", 57688: "MDC_MASS_BODY_SOFT_LEAN",
              57692: "MDC_BODY_WATER", 57664: "MDC_MASS_BODY_ACTUAL", 57668: "MDC_LEN_BODY_ACTUAL",
              57680: "MDC_RATIO_MASS_BODY_LEN_SQ"},
    "10421": {21512: "MDC_FLOW_AWAY_EXP_FORCED_PEAK", 21513: "MDC_FLOW_AWAY_EXP_FORCED_PEAK_PB",
              21514: "MDC_VOL_AWAY_EXP_FORCED_1S", 21515: "MDC_VOL_AWAY_EXP_FORCED_6S"},
    "10441": {(129 << 16) | c: n for c, n in {103: "MDC_HF_DISTANCE", 119: "MDC_HF_ENERGY", 114: "MDC_HF_HR",
                                              110: "MDC_HF_SPEED", 111: "MDC_HF_CAD", 125: "MDC_HF_ACTIVITY_TIME",
                                              126: "MDC_HF_AGE", 123: "MDC_HF_SESSION"}.items()},
    "10442": {(129 << 16) | c: n for c, n in {200: "MDC_HF_SET", 201: "MDC_HF_REPETITION",
                                              202: "MDC_HF_REPETITION_COUNT", 203: "MDC_HF_RESISTANCE"}.items()},
}
STANDARD_UNITS = {
    512: ("MDC_DIM_DIMLESS", "1"), 544: ("MDC_DIM_PERCENT", "%"), 1297: ("MDC_DIM_CENTI_M", "cm"),
    1376: ("MDC_DIM_X_INCH", "[in_i]"), 1731: ("MDC_DIM_KILO_G", "kg"), 1760: ("MDC_DIM_LB", "[lb_av]"),
    1952: ("MDC_DIM_KG_PER_M_SQ", "kg/m2"), 2130: ("MDC_DIM_MILLI_G_PER_DL", "mg/dL"),
    2368: ("MDC_DIM_YR", "a"), 2720: ("MDC_DIM_BEAT_PER_MIN", "/min"), 3072: ("MDC_DIM_X_L_PER_MIN", "L/min"),
    1600: ("MDC_DIM_X_L", "L"), 3843: ("MDC_DIM_KILO_PASCAL", "kPa"), 3872: ("MDC_DIM_MMHG", "mm[Hg]"),
    4416: ("MDC_DIM_FAHR", "[degF]"), 4722: ("MDC_DIM_MILLI_MOLE_PER_L", "mmol/L"), 6048: ("MDC_DIM_DEGC", "Cel"),
    6656: ("MDC_DIM_X_STEP", "{steps}"), 6784: ("MDC_DIM_X_CAL", "cal"), 1280: ("MDC_DIM_X_M", "m"),
}


def test_every_standard_term_has_names_and_every_unit_a_ucum_and_display() -> None:
    for spec, terms in STANDARD_TERMS.items():
        for code, refid in terms.items():
            partition, term = (code >> 16, code & 0xFFFF) if code > 0xFFFF else (mdc.MDC_PART_SCADA, code)
            entry = tables.TERMS.get((partition, term))
            assert entry is not None and entry.refid == refid, (spec, code)
            assert entry.ja and entry.en and not entry.ja.startswith("MDC_"), (spec, refid)
    for code, (refid, ucum) in STANDARD_UNITS.items():
        unit = tables.UNITS[code]
        assert (unit.refid, unit.own_ucum) == (refid, ucum)
    # every term and unit the per-specialization list names resolves in the tables
    for _spec, (_std, term_refids, unit_refids) in tables.SPECIALIZATION_TERMS.items():
        assert all(r in tables.TERMS_BY_REFID for r in term_refids)
        assert all(r in tables.UNITS_BY_REFID for r in unit_refids)
    assert mdc.display_name(57676) == "体脂肪率" and mdc.display_name(57676, lang="en") == "Body fat"
    assert mdc.term_name(57999) == "MDC_PART_SCADA:57999"  # outside the tables: named by partition, kept


def _len(b: bytes) -> bytes:
    return len(b).to_bytes(2, "big") + b


def _prst_event(event_type: int, info: bytes, invoke: int = 0x0042) -> bytes:
    report = bytes.fromhex("0000FFFFFFFF") + event_type.to_bytes(2, "big") + _len(info)
    data = invoke.to_bytes(2, "big") + bytes.fromhex("0101") + _len(report)
    return bytes.fromhex("E700") + _len(_len(data))


def _ava(attr: int, value: bytes) -> bytes:
    return attr.to_bytes(2, "big") + _len(value)


def _attr_list(avas: list[bytes]) -> bytes:
    return len(avas).to_bytes(2, "big") + _len(b"".join(avas))


def _avm(entries: list[tuple[int, int]]) -> bytes:
    body = b"".join(a.to_bytes(2, "big") + n.to_bytes(2, "big") for a, n in entries)
    return len(entries).to_bytes(2, "big") + _len(body)


def _nu(
    handle: int, partition: int, code: int, unit: int, avm: list[tuple[int, int]], extra: tuple[bytes, ...] = ()
) -> bytes:
    avas = [
        _ava(mdc.MDC_ATTR_ID_TYPE, partition.to_bytes(2, "big") + code.to_bytes(2, "big")),
        _ava(mdc.MDC_ATTR_UNIT_CODE, unit.to_bytes(2, "big")),
        _ava(mdc.MDC_ATTR_ATTRIBUTE_VAL_MAP, _avm(avm)),
        *extra,
    ]
    return bytes.fromhex("0006") + handle.to_bytes(2, "big") + _attr_list(avas)


def _manager(objects: list[bytes], **kw: object) -> PhdManager:
    body = bytes.fromhex("4000") + len(objects).to_bytes(2, "big") + _len(b"".join(objects))
    config = Configuration.from_config_report(rep.decode_config_report(Reader(body)))
    mgr = PhdManager(**kw)  # type: ignore[arg-type]
    mgr.state, mgr.config, mgr.device_id = ManagerState.OPERATING, config, "0011223344556677"
    return mgr


def _fixed(entries: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(h.to_bytes(2, "big") + _len(d) for h, d in entries)
    return bytes.fromhex("F0000000") + len(entries).to_bytes(2, "big") + _len(body)


BASIC_TIME_ABS = [(mdc.MDC_ATTR_NU_VAL_OBS_BASIC, 2), (mdc.MDC_ATTR_TIME_ABS, 8)]


def test_fixed_scan_report_with_time_abs_in_the_attribute_map_gives_each_observation_its_time() -> None:
    mgr = _manager([_nu(1, 2, 19384, 544, BASIC_TIME_ABS), _nu(10, 2, 18458, 2720, BASIC_TIME_ABS)])
    info = _fixed([(1, bytes.fromhex("0061 2024050107300000")), (10, bytes.fromhex("0048 2024050107311500"))])
    step = mgr.handle(_prst_event(mdc.MDC_NOTI_SCAN_REPORT_FIXED, info))
    assert [(o.code.code, o.value, o.effective) for o in step.observations] == [
        ("19384", "97", datetime(2024, 5, 1, 7, 30)),
        ("18458", "72", datetime(2024, 5, 1, 7, 31, 15)),
    ]


def test_absolute_time_takes_the_device_zone_when_given() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    mgr = _manager([_nu(1, 2, 19384, 544, BASIC_TIME_ABS)], device_tz=tokyo)
    info = _fixed([(1, bytes.fromhex("0061 2024050107300000"))])
    step = mgr.handle(_prst_event(mdc.MDC_NOTI_SCAN_REPORT_FIXED, info))
    assert step.observations[0].effective == datetime(2024, 5, 1, 7, 30, tzinfo=tokyo)


def test_base_offset_time_stamp_carries_its_offset() -> None:
    avm = [(mdc.MDC_ATTR_NU_VAL_OBS_BASIC, 2), (mdc.MDC_ATTR_TIME_STAMP_BO, 8)]
    mgr = _manager([_nu(1, 2, 19292, 6048, avm)])
    # 2024-05-01 07:30:00 +09:00 = 1714516200 s since 1970 UTC; half a second; offset +540 min
    data = bytes.fromhex("F171") + (1714516200).to_bytes(4, "big") + bytes.fromhex("8000 021C")
    step = mgr.handle(_prst_event(mdc.MDC_NOTI_SCAN_REPORT_FIXED, _fixed([(1, data)])))
    when = step.observations[0].effective
    assert when == datetime(2024, 5, 1, 7, 30, 0, 500000, tzinfo=timezone(timedelta(hours=9)))
    assert when.utcoffset() == timedelta(hours=9) and step.observations[0].value == "36.9"


def test_relative_time_stamp_is_placed_against_the_mds_clock() -> None:
    avm = [(mdc.MDC_ATTR_NU_VAL_OBS_BASIC, 2), (mdc.MDC_ATTR_TIME_STAMP_REL, 4)]
    mgr = _manager([_nu(1, 2, 19292, 6048, avm)])
    report = _prst_event(mdc.MDC_NOTI_SCAN_REPORT_FIXED, _fixed([(1, bytes.fromhex("0171 00001F40"))]))
    assert mgr.handle(report).observations[0].effective is None  # no MDS clock yet: unknown, and said so
    assert "relative-time-without-mds-clock" in mgr.handle(report).observations[0].flags
    # GET result from the MDS: Absolute-Time 2024-05-01 07:30:00 read with Relative-Time 0 ticks
    attrs = _attr_list([_ava(mdc.MDC_ATTR_TIME_ABS, bytes.fromhex("2024050107300000")),
                        _ava(mdc.MDC_ATTR_TIME_REL, bytes.fromhex("00000000"))])
    data = bytes.fromhex("0001 0203") + _len(bytes.fromhex("0000") + attrs)
    mgr.handle(bytes.fromhex("E700") + _len(_len(data)))
    # 0x1F40 = 8000 ticks of 125 µs = 1 s after the MDS clock pair
    assert mgr.handle(report).observations[0].effective == datetime(2024, 5, 1, 7, 30, 1)


def test_an_apdu_with_a_wrong_length_field_is_rejected_naming_its_offset() -> None:
    bad = bytearray(v.SCAN_FIXED_SCALE)
    bad[3] -= 2  # the PRST claims 2 bytes less than its content: used to blame the next APDU
    stream = v.AARQ_SCALE_4000 + bytes(bad) + v.RLRQ
    with pytest.raises(DeviceCodecError) as info:
        split_apdus(stream)
    assert info.value.offset == 54 + 2
    assert "PRST APDU at byte offset 54" in info.value.reason
    with pytest.raises(DeviceCodecError) as info:
        decode_capture("11073", stream)
    assert "PRST APDU at byte offset 54" in str(info.value)


@pytest.mark.parametrize("field_at", [2, 4, 10, 20])
def test_length_errors_at_every_length_field_name_the_apdu(field_at: int) -> None:
    bad = bytearray(v.SCAN_FIXED_SCALE)
    bad[field_at + 1] ^= 0x01  # APDU length, DataApdu octet string, message length, event-info length
    with pytest.raises(DeviceCodecError) as info:
        decode_apdu(bytes(bad), base=100)
    assert "PRST APDU at byte offset 100" in info.value.reason or field_at == 20
    assert info.value.offset >= 100


def test_abort_and_release_reasons_in_json_and_text() -> None:
    stream = v.AARQ_SCALE_4000 + bytes.fromhex("E400 0002 0002") + v.ABRT
    items = decode_capture("11073", stream)
    released = items[1]["events"][0]["detail"]
    aborted = items[2]["events"][0]["detail"]
    assert (released["reason"], released["reason_name"]) == (2, "configuration-changed")
    assert (aborted["reason"], aborted["reason_name"]) == (2, "response-timeout")
    runner = CliRunner()
    out = runner.invoke(cli, ["device", "decode", "--format", "11073", "--text", "-"], input=stream.hex())
    assert out.exit_code == 0, out.output
    assert "released reason=configuration-changed" in out.output
    assert "aborted reason=response-timeout" in out.output
    js = json.loads(runner.invoke(cli, ["device", "decode", "--format", "11073", "-"], input=stream.hex()).output)
    assert js[2]["events"][0]["detail"]["reason_name"] == "response-timeout"


def test_fast_response_spo2_is_a_distinct_metric() -> None:
    fast = _ava(mdc.MDC_ATTR_SUPPLEMENTAL_TYPES, bytes.fromhex("0001 0004 0002 4C34"))  # SCADA MDC_MODALITY_FAST
    basic = [(mdc.MDC_ATTR_NU_VAL_OBS_BASIC, 2)]
    mgr = _manager([_nu(1, 2, 19384, 544, basic), _nu(2, 2, 19384, 544, basic, (fast,))])
    step = mgr.handle(_prst_event(mdc.MDC_NOTI_SCAN_REPORT_FIXED, _fixed([(1, b"\x00\x61"), (2, b"\x00\x5f")])))
    assert [(o.code.code, o.value, o.flags) for o in step.observations] == [
        ("19384", "97", []),
        ("19384/19508", "95", ["modality:fast"]),
    ]
    assert mdc.names_of("19384/19508", "en") == "SpO2 (fast response)"


def test_private_metric_keeps_the_devices_label_and_its_code() -> None:
    label = _ava(mdc.MDC_ATTR_ID_LABEL_STRING, _len(b"Grip L"))
    mgr = _manager([_nu(1, 2, 0xF001, 512, [(mdc.MDC_ATTR_NU_VAL_OBS_BASIC, 2)], (label,))])
    obs = mgr.handle(_prst_event(mdc.MDC_NOTI_SCAN_REPORT_FIXED, _fixed([(1, b"\x00\x0c")]))).observations[0]
    assert (obs.code.code, obs.code.display, obs.value, obs.flags) == (
        "61441", "MDC_PART_SCADA:61441", "12", ["label:Grip L"]
    )


def test_body_composition_height_and_activity_terms_decode_with_names_and_units() -> None:
    simp = [(mdc.MDC_ATTR_NU_VAL_OBS_SIMP, 4)]
    mgr = _manager([
        _nu(1, 2, 57676, 544, simp), _nu(2, 2, 57668, 1297, simp), _nu(3, 129, 126, 2368, simp),
        _nu(4, 129, 119, 6784, simp),
    ])
    info = _fixed([(1, bytes.fromhex("FF0000D7")), (2, bytes.fromhex("FF0006A4")), (3, bytes.fromhex("0000004E")),
                   (4, bytes.fromhex("000000FA"))])
    items = mgr.handle(_prst_event(mdc.MDC_NOTI_SCAN_REPORT_FIXED, info)).observations
    got = [(o.code.code, o.code.display, o.value, o.unit, o.normalized_value, o.normalized_unit) for o in items]
    assert got == [
        ("57676", "MDC_BODY_FAT", "21.5", "MDC_DIM_PERCENT", 21.5, "%"),
        ("57668", "MDC_LEN_BODY_ACTUAL", "170.0", "MDC_DIM_CENTI_M", 170.0, "cm"),
        (str((129 << 16) | 126), "MDC_HF_AGE", "78", "MDC_DIM_YR", 78.0, "a"),
        (str((129 << 16) | 119), "MDC_HF_ENERGY", "250", "MDC_DIM_X_CAL", 250.0, "cal"),
    ]
    runner = CliRunner()
    res = runner.invoke(cli, ["device", "decode", "--format", "11073", "--text", "-"],
                        input=(v.AARQ_SCALE_4000 + v.RLRQ).hex())
    assert res.exit_code == 0 and "Traceback" not in res.output


def test_a_report_naming_an_unknown_handle_keeps_the_known_observations_and_names_it() -> None:
    mgr = _manager([_nu(1, 2, 19384, 544, BASIC_TIME_ABS)])
    info = _fixed([(1, bytes.fromhex("0061 2024050107300000")), (7, bytes.fromhex("0048 2024050107311500"))])
    step = mgr.handle(_prst_event(mdc.MDC_NOTI_SCAN_REPORT_FIXED, info))
    assert [(o.code.code, o.value) for o in step.observations] == [("19384", "97")]
    unknown = [e.detail for e in step.events if e.kind == "unknown-object-handles"]
    # handle 7's entry starts after the APDU header (4), octet string length (2), invoke-id (2), message
    # choice and length (4), event report head (10), scan report head (8) and handle 1's entry (2 + 2 + 10)
    assert unknown == [{"config_id": 0x4000, "handles": [7], "offsets": [4 + 2 + 2 + 4 + 10 + 8 + 14]}]
    assert step.responses  # the confirmed report is still answered

"""Grouped scan reports (0x0D24 unbuffered, 0x0D27 multi-person): an agent with a periodic scanner in its
extended configuration sends its values as one octet string per scan, laid out by the scanner's
Scan-Handle-Attr-Val-Map; the manager splits it with the configuration and answers each confirmed report.
Event types still not decoded stay an explicit `unhandled-event` naming the type."""

from __future__ import annotations

from datetime import datetime

import pytest

from renkei.devices import ieee11073 as p
from renkei.devices import nomenclature as mdc
from renkei.devices import phd_reports as rep
from renkei.devices.errors import DeviceCodecError
from renkei.devices.mder import Writer
from renkei.devices.phd_agent import PhdAgent
from renkei.devices.phd_configs import STANDARD_CONFIGS
from renkei.devices.phd_manager import ManagerEvent, ManagerState, PhdManager

SYS = bytes.fromhex("0011223344556677")
WHEN = datetime(2024, 5, 1, 7, 30, 15)
SCANNER = 10
BP_AVM = [(mdc.MDC_ATTR_NU_CMPD_VAL_OBS_BASIC, 10), (mdc.MDC_ATTR_TIME_STAMP_ABS, 8)]
PULSE_AVM = [(mdc.MDC_ATTR_NU_VAL_OBS_BASIC, 2)]


def _configured() -> PhdManager:
    """A manager that accepted extended config 0x4010: the BP objects plus periodic scanner 10."""
    standard = STANDARD_CONFIGS[0x02BC].report
    assert standard is not None
    layout = rep.encode_handle_attr_val_map([(1, BP_AVM), (2, PULSE_AVM)])
    scanner = rep.ConfigObject(
        mdc.MDC_MOC_SCAN_CFG_PERI, SCANNER, [rep.Ava(mdc.MDC_ATTR_SCAN_HANDLE_ATTR_VAL_MAP, layout)]
    )
    mgr = PhdManager()
    mgr.handle(PhdAgent("blood-pressure", SYS, config_id=0x4010).aarq())
    assert mgr.state == ManagerState.CONFIGURING
    config = rep.ConfigReport(0x4010, [*standard.objects, scanner])
    step = mgr.handle(p.encode_apdu(p.Prst(1, p.EventReport(0, mdc.MDC_NOTI_CONFIG, config))))
    assert [e.kind for e in step.events] == ["config-accepted"]
    assert mgr.config is not None and mgr.config.scanners == {SCANNER: [(1, BP_AVM), (2, PULSE_AVM)]}
    return mgr


def _scan(sys_: int, dia: int, mean: int, pulse: int) -> bytes:
    cmpd = rep.encode_attribute_value(mdc.MDC_ATTR_NU_CMPD_VAL_OBS_BASIC, [sys_, dia, mean])
    return Writer().raw(cmpd).abs_time(WHEN).sfloat(pulse).bytes()


def _report(event_type: int, info: rep.EventInfo, handle: int = SCANNER, invoke_id: int = 7) -> bytes:
    return p.encode_apdu(p.Prst(invoke_id, p.EventReport(handle, event_type, info)))


def test_unbuffered_grouped_report_is_split_by_the_scanner_layout() -> None:
    mgr = _configured()
    info = rep.ScanReportGrouped(0xF000, 3, [rep.ObservationGrouped(_scan(128, 82, 97, 72))])
    step = mgr.handle(_report(mdc.MDC_NOTI_UNBUF_SCAN_REPORT_GROUPED, info))
    assert [(o.code.code, o.value, o.unit, o.effective) for o in step.observations] == [
        ("18949", "128", "MDC_DIM_MMHG", WHEN),
        ("18950", "82", "MDC_DIM_MMHG", WHEN),
        ("18951", "97", "MDC_DIM_MMHG", WHEN),
        ("18474", "72", "MDC_DIM_BEAT_PER_MIN", None),  # the pulse object's map carries no time stamp
    ]
    assert step.events[-1] == ManagerEvent(
        "report", {"device_id": SYS.hex().upper(), "event_type": 0x0D24, "observations": 4}
    )
    (rsp,) = step.responses
    decoded = p.decode_apdu(rsp)
    assert isinstance(decoded, p.Prst) and decoded.invoke_id == 7
    assert isinstance(decoded.message, p.EventReportResult)
    assert (decoded.message.obj_handle, decoded.message.event_type) == (SCANNER, 0x0D24)


def test_multi_person_grouped_report_flags_each_person() -> None:
    mgr = _configured()
    persons = [
        rep.PersonGrouped(1, rep.ObservationGrouped(_scan(120, 80, 93, 60))),
        rep.PersonGrouped(2, rep.ObservationGrouped(_scan(140, 90, 107, 88))),
    ]
    step = mgr.handle(_report(mdc.MDC_NOTI_UNBUF_SCAN_REPORT_MP_GROUPED, rep.ScanReportMPGrouped(0xF000, 4, persons)))
    assert [(o.value, o.flags) for o in step.observations if o.code.code in ("18949", "18474")] == [
        ("120", ["person-id:1"]),
        ("60", ["person-id:1"]),
        ("140", ["person-id:2"]),
        ("88", ["person-id:2"]),
    ]


def test_grouped_report_errors_name_offsets() -> None:
    mgr = _configured()
    good = rep.ScanReportGrouped(0xF000, 5, [rep.ObservationGrouped(_scan(120, 80, 93, 60))])
    with pytest.raises(DeviceCodecError, match="grouped scan report from object handle 11: configuration 0x4010"):
        mgr.handle(_report(mdc.MDC_NOTI_UNBUF_SCAN_REPORT_GROUPED, good, handle=11))
    short = rep.ScanReportGrouped(0xF000, 5, [rep.ObservationGrouped(_scan(120, 80, 93, 60)[:-2])])
    apdu = _report(mdc.MDC_NOTI_UNBUF_SCAN_REPORT_GROUPED, short)
    with pytest.raises(DeviceCodecError) as info:
        mgr.handle(apdu)
    assert info.value.reason == "obs-scan-grouped is 18 bytes, scanner 10's handle-attribute-value map needs 20"
    assert apdu[info.value.offset : info.value.offset + 2] == b"\x00\x12"  # the octet string's length field


def test_scanner_mapping_an_unconfigured_handle_is_rejected() -> None:
    standard = STANDARD_CONFIGS[0x02BC].report
    assert standard is not None
    layout = rep.encode_handle_attr_val_map([(1, BP_AVM), (9, PULSE_AVM)])
    scanner = rep.ConfigObject(mdc.MDC_MOC_SCAN_CFG_EPI, 12, [rep.Ava(mdc.MDC_ATTR_SCAN_HANDLE_ATTR_VAL_MAP, layout)])
    mgr = PhdManager()
    mgr.handle(PhdAgent("blood-pressure", SYS, config_id=0x4011).aarq())
    config = rep.ConfigReport(0x4011, [*standard.objects, scanner])
    step = mgr.handle(p.encode_apdu(p.Prst(1, p.EventReport(0, mdc.MDC_NOTI_CONFIG, config))))
    assert step.events == [
        ManagerEvent(
            "config-rejected",
            {"config_id": 0x4011, "reason": "scanner handle 12 maps object handle 9, which is not configured"},
        )
    ]
    assert mgr.state == ManagerState.CONFIGURING


def test_segment_data_stays_an_unhandled_event_naming_its_type() -> None:
    mgr = _configured()
    step = mgr.handle(_report(mdc.MDC_NOTI_SEGMENT_DATA, b"\x00\x01\x02\x03", handle=16))
    assert step.events == [ManagerEvent("unhandled-event", {"event_type": 0x0D21})]
    assert step.observations == []
    (rsp,) = step.responses  # still confirmed, so the agent does not resend it forever
    decoded = p.decode_apdu(rsp)
    assert isinstance(decoded, p.Prst) and isinstance(decoded.message, p.EventReportResult)
    assert decoded.message.event_type == 0x0D21

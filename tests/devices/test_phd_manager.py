"""Manager state machine: associations, config reports, scan reports -> Observations, release/abort."""

from __future__ import annotations

from datetime import datetime

import device_vectors as v
import pytest

from renkei.devices import ieee11073 as p
from renkei.devices import nomenclature as mdc
from renkei.devices import phd_reports as rep
from renkei.devices.errors import DeviceCodecError
from renkei.devices.phd_agent import PhdAgent
from renkei.devices.phd_configs import STANDARD_CONFIGS
from renkei.devices.phd_manager import ManagerState, PhdManager
from renkei.devices.readings import no_value_reason

SYS = bytes.fromhex("0011223344556677")
WHEN = datetime(2024, 5, 1, 7, 30, 15)


def associate(agent: PhdAgent, mgr: PhdManager) -> None:
    step = mgr.handle(agent.aarq())
    for out in agent.handle(step.responses[0]):
        mgr.handle(out)
    assert mgr.state == ManagerState.OPERATING


def test_annex_scale_exchange_with_extended_config() -> None:
    mgr = PhdManager(system_id=bytes.fromhex("8877665544332211"))
    step = mgr.handle(v.AARQ_SCALE_4000)
    assert step.responses == [v.AARE_UNKNOWN_CONFIG]  # accepted-unknown-config, byte for byte
    assert mgr.state == ManagerState.CONFIGURING
    step = mgr.handle(v.CONFIG_SCALE_4000)
    assert step.responses == [v.CONFIG_RSP_4000]  # invoke id 0x1234 echoed, config accepted
    assert [e.kind for e in step.events] == ["config-accepted"]
    step = mgr.handle(v.SCAN_FIXED_SCALE)
    assert step.responses == [v.SCAN_FIXED_SCALE_RSP]
    got = [
        (o.code.code, o.value, o.unit, o.normalized_value, o.normalized_unit, o.effective) for o in step.observations
    ]
    assert got == [
        ("57664", "76.2", "MDC_DIM_KILO_G", 76.2, "kg", datetime(2007, 12, 6, 12, 10)),
        ("57680", "24.3", "MDC_DIM_KG_PER_M_SQ", 24.3, "kg/m2", datetime(2009, 6, 12, 12, 10)),
        ("57664", "76.0", "MDC_DIM_KILO_G", 76.0, "kg", datetime(2009, 6, 12, 20, 5)),
        ("57680", "24.2", "MDC_DIM_KG_PER_M_SQ", 24.2, "kg/m2", datetime(2009, 6, 12, 20, 5)),
    ]
    assert {o.device_id for o in step.observations} == {b"LNIAGENT".hex().upper()}
    assert step.observations[0].code.system == "MDC" and step.observations[0].patient_id == ""
    # the extended config is remembered for this system id: the next association is accepted at once
    assert mgr.handle(v.RLRQ).responses == [v.RLRE]
    assert mgr.state == ManagerState.UNASSOCIATED
    step = mgr.handle(v.AARQ_SCALE_4000)
    assert p.decode_apdu(step.responses[0]).result == p.AssociateResult.ACCEPTED  # type: ignore[union-attr]
    assert mgr.state == ManagerState.OPERATING
    # …and survives export/import into a fresh manager
    other = PhdManager()
    other.import_extended_configs(mgr.export_extended_configs())
    assert other.handle(v.AARQ_SCALE_4000).events[0].detail["result"] == 0


def test_extended_config_is_per_system_id() -> None:
    mgr = PhdManager()
    associate(PhdAgent("weighing-scale", SYS, config_id=0x4001), mgr)
    other = PhdAgent("weighing-scale", bytes.fromhex("0011223344556678"), config_id=0x4001)
    mgr.handle(p.encode_apdu(p.Rlrq()))
    step = mgr.handle(other.aarq())
    assert step.events[0].detail["result"] == p.AssociateResult.ACCEPTED_UNKNOWN_CONFIG


def test_antidote_pulse_oximeter_scanner_reports() -> None:
    mgr = PhdManager()
    step = mgr.handle(v.AARQ_SPO2_0190)
    assert step.events[0].detail == {
        "result": 0,
        "result_name": "accepted",
        "device_id": "0011223344556677",
        "dev_config_id": 0x0190,
    }
    for vector in (v.UNBUF_FIXED_SPO2, v.UNBUF_VAR_SPO2, v.UNBUF_MP_FIXED_SPO2):
        step = mgr.handle(vector)
        assert [(o.code.code, o.value, o.unit) for o in step.observations] == [
            ("19384", "98", "MDC_DIM_PERCENT"),
            ("18458", "72", "MDC_DIM_BEAT_PER_MIN"),
        ]
        assert all(o.effective == datetime(2007, 12, 6, 12, 10) for o in step.observations)
        (rsp,) = step.responses
        decoded = p.decode_apdu(rsp)
        assert isinstance(decoded, p.Prst) and decoded.invoke_id == 0x1238
        assert isinstance(decoded.message, p.EventReportResult) and decoded.message.obj_handle == 55
    assert step.observations[0].flags == ["person-id:1"]


@pytest.mark.parametrize(
    ("spec", "values", "expected"),
    [
        (
            "pulse-oximeter",
            {"spo2": 97, "pulse": 65},
            [("19384", "97", "MDC_DIM_PERCENT", 97.0, "%"), ("18458", "65", "MDC_DIM_BEAT_PER_MIN", 65.0, "/min")],
        ),
        (
            "blood-pressure",
            {"bp": (120, 80, 93), "pulse": 72},
            [
                ("18949", "120", "MDC_DIM_MMHG", 120.0, "mm[Hg]"),
                ("18950", "80", "MDC_DIM_MMHG", 80.0, "mm[Hg]"),
                ("18951", "93", "MDC_DIM_MMHG", 93.0, "mm[Hg]"),
                ("18474", "72", "MDC_DIM_BEAT_PER_MIN", 72.0, "/min"),
            ],
        ),
        ("thermometer", {"temperature": "36.8"}, [("19292", "36.8", "MDC_DIM_DEGC", 36.8, "Cel")]),
        ("weighing-scale", {"weight": "62.4"}, [("57664", "62.4", "MDC_DIM_KILO_G", 62.4, "kg")]),
        ("glucose-meter", {"glucose": 105}, [("29112", "105", "MDC_DIM_MILLI_G_PER_DL", 105.0, "mg/dL")]),
    ],
)
@pytest.mark.parametrize("config_id", [None, 0x4000])
def test_every_specialization_end_to_end(spec: str, values: dict, expected: list, config_id: int | None) -> None:
    agent = PhdAgent(spec, SYS, config_id=config_id)
    mgr = PhdManager()
    step = mgr.handle(agent.aarq())
    result = p.decode_apdu(step.responses[0]).result  # type: ignore[union-attr]
    assert result == (p.AssociateResult.ACCEPTED if config_id is None else p.AssociateResult.ACCEPTED_UNKNOWN_CONFIG)
    for out in agent.handle(step.responses[0]):
        mgr.handle(out)
    report = agent.fixed_report(values, WHEN)
    step = mgr.handle(report)
    got = [(o.code.code, o.value, o.unit, o.normalized_value, o.normalized_unit) for o in step.observations]
    assert got == expected
    assert all(o.effective == WHEN for o in step.observations)
    (rsp,) = step.responses
    assert rsp[6:8] == report[6:8]  # invoke id echoed
    assert mgr.handle(agent.rlrq()).responses == [p.encode_apdu(p.Rlre())]


def test_measurement_status_and_units_from_var_report() -> None:
    agent = PhdAgent("blood-pressure", SYS)
    mgr = PhdManager()
    associate(agent, mgr)
    attrs = [
        rep.Ava(
            mdc.MDC_ATTR_NU_CMPD_VAL_OBS_BASIC,
            rep.encode_attribute_value(mdc.MDC_ATTR_NU_CMPD_VAL_OBS_BASIC, ["16.0", "10.7", "12.5"]),
        ),
        rep.Ava(mdc.MDC_ATTR_UNIT_CODE, rep.encode_attribute_value(mdc.MDC_ATTR_UNIT_CODE, mdc.MDC_DIM_KILO_PASCAL)),
        rep.Ava(
            mdc.MDC_ATTR_MSMT_STAT,
            rep.encode_attribute_value(mdc.MDC_ATTR_MSMT_STAT, 0x8000 | 0x4000 | 0x0800 | 0x0400),
        ),
    ]
    info = rep.ScanReportVar(0xF000, 1, [rep.ObservationVar(1, attrs)])
    step = mgr.handle(p.encode_apdu(p.Prst(7, p.EventReport(0, mdc.MDC_NOTI_SCAN_REPORT_VAR, info))))
    sys_obs = step.observations[0]
    # the invalid/questionable/test/demo bits: the number never becomes a value, the status is explicit
    assert (sys_obs.value, sys_obs.unit, sys_obs.normalized_value) == ("", "MDC_DIM_KILO_PASCAL", None)
    assert sys_obs.flags == ["invalid", "questionable", "test-data", "demo-data"]
    assert no_value_reason(sys_obs) == "invalid"
    assert sys_obs.effective is None


def test_special_values_are_kept_and_flagged() -> None:
    agent = PhdAgent("pulse-oximeter", SYS)
    mgr = PhdManager()
    associate(agent, mgr)
    step = mgr.handle(agent.fixed_report({"spo2": "NaN", "pulse": "+INF"}, WHEN))
    assert [(o.value, o.normalized_value, o.flags) for o in step.observations] == [
        ("", None, ["not-a-number", "special:NaN"]),
        ("", None, ["positive-infinity", "special:+INF"]),
    ]
    step = mgr.handle(agent.fixed_report({"spo2": "NRes", "pulse": "-INF"}, WHEN))
    assert [o.flags for o in step.observations] == [
        ["not-at-this-resolution", "special:NRes"],
        ["negative-infinity", "special:-INF"],
    ]
    assert [no_value_reason(o) for o in step.observations] == ["not-at-this-resolution", "negative-infinity"]


def test_multi_person_report() -> None:
    agent = PhdAgent("weighing-scale", SYS)
    mgr = PhdManager()
    associate(agent, mgr)
    step = mgr.handle(agent.mp_fixed_report({1: {"weight": "60.1"}, 2: {"weight": "71.9"}}, WHEN))
    assert [(o.value, o.flags) for o in step.observations] == [("60.1", ["person-id:1"]), ("71.9", ["person-id:2"])]
    assert len(step.responses) == 1


def test_unconfirmed_report_gets_no_answer() -> None:
    agent = PhdAgent("thermometer", SYS)
    mgr = PhdManager()
    associate(agent, mgr)
    step = mgr.handle(agent.fixed_report({"temperature": "37.2"}, WHEN, confirmed=False))
    assert step.responses == [] and step.observations[0].value == "37.2"


def test_protocol_errors() -> None:
    mgr = PhdManager()
    agent = PhdAgent("thermometer", SYS)
    # data before association -> ABRT
    step = mgr.handle(agent.fixed_report({"temperature": 37}, WHEN))
    assert step.responses == [p.encode_apdu(p.Abrt(p.AbortReason.UNDEFINED))]
    # data while the config is not agreed -> ROER, invoke id echoed
    ext = PhdAgent("thermometer", SYS, config_id=0x4000)
    mgr.handle(ext.aarq())
    report = ext.fixed_report({"temperature": 37}, WHEN)
    (rsp,) = mgr.handle(report).responses
    err = p.decode_apdu(rsp)
    assert isinstance(err, p.Prst) and err.message == p.ErrorResult(p.ErrorValue.NOT_ALLOWED_BY_OBJECT)
    assert err.invoke_id == int.from_bytes(report[6:8], "big")
    # AARQ while associated -> ABRT, and ABRT from the agent resets
    assert mgr.handle(ext.aarq()).responses == [p.encode_apdu(p.Abrt())]
    mgr.handle(PhdAgent("thermometer", SYS).aarq())
    assert mgr.state == ManagerState.OPERATING
    assert mgr.handle(v.ABRT).events[0].kind == "aborted" and mgr.state == ManagerState.UNASSOCIATED


def test_association_rejections() -> None:
    mgr = PhdManager()
    not_mder = p.Aarq([p.DataProto(20601, p.PhdAssociationInfo(SYS, 0x0190, encoding_rules=0x4000))])
    step = mgr.handle(p.encode_apdu(not_mder))
    assert p.decode_apdu(step.responses[0]) == p.Aare(
        p.AssociateResult.REJECTED_NO_COMMON_PARAMETER, p.DataProto(0, b"")
    )
    other_proto = p.Aarq([p.DataProto(20602, b"\x01\x02")])
    step = mgr.handle(p.encode_apdu(other_proto))
    assert step.events[0].detail["result_name"] == "rejected_no_common_protocol"
    assert mgr.state == ManagerState.UNASSOCIATED


def test_manager_release_and_get() -> None:
    agent = PhdAgent("glucose-meter", SYS)
    mgr = PhdManager()
    associate(agent, mgr)
    assert p.decode_apdu(mgr.get_mds_attributes()) == p.Prst(1, p.Get(0, []))
    step = mgr.handle(v.GET_RESULT)
    assert step.events[0].detail["attributes"] == {"0x0984": "00080011223344556677"}
    assert mgr.release() == v.RLRQ and mgr.state == ManagerState.DISASSOCIATING
    assert agent.handle(v.RLRQ) == [v.RLRE]
    mgr.handle(v.RLRE)
    assert mgr.state == ManagerState.UNASSOCIATED


def test_config_report_without_type_is_rejected_as_unsupported() -> None:
    mgr = PhdManager()
    mgr.handle(PhdAgent("thermometer", SYS, config_id=0x4000).aarq())
    bad = rep.ConfigReport(0x4000, [rep.ConfigObject(mdc.MDC_MOC_VMO_METRIC_NU, 1, [])])
    (rsp,) = mgr.handle(p.encode_apdu(p.Prst(3, p.EventReport(0, mdc.MDC_NOTI_CONFIG, bad)))).responses
    decoded = p.decode_apdu(rsp)
    assert isinstance(decoded, p.Prst) and isinstance(decoded.message, p.EventReportResult)
    assert decoded.message.reply_info == rep.ConfigReportRsp(0x4000, rep.ConfigResult.UNSUPPORTED)
    assert mgr.state == ManagerState.CONFIGURING


def test_bad_data_in_fixed_report_names_offsets() -> None:
    mgr = PhdManager()
    mgr.handle(v.AARQ_SCALE_4000)
    mgr.handle(v.CONFIG_SCALE_4000)
    bad = bytearray(v.SCAN_FIXED_SCALE)
    bad[40] = 0x1F  # month BCD of the first time stamp
    with pytest.raises(DeviceCodecError) as info:
        mgr.handle(bytes(bad))
    assert info.value.offset == 40 and "bad BCD digit 0x1F in AbsoluteTime month" in info.value.reason
    unknown = bytearray(v.SCAN_FIXED_SCALE)
    unknown[31] = 0x09  # handle 9 is not in the configuration: the other three observations are kept
    step = mgr.handle(bytes(unknown))
    assert len(step.observations) == 3
    assert [e.detail for e in step.events if e.kind == "unknown-object-handles"] == [
        {"config_id": 0x4000, "handles": [9], "offsets": [30]}
    ]
    short = p.Prst(1, p.EventReport(0, 0x0D1D, rep.ScanReportFixed(0xF000, 0, [rep.ObservationFixed(1, b"\x00" * 4)])))
    with pytest.raises(DeviceCodecError, match="is 4 bytes, its attribute-value map needs 12"):
        mgr.handle(p.encode_apdu(short))


def test_standard_configs_cover_the_specializations() -> None:
    assert sorted(STANDARD_CONFIGS) == [0x0190, 0x0191, 0x02BC, 0x0320, 0x05DC, 0x06A4]
    bp = STANDARD_CONFIGS[0x02BC].objects[1]
    assert bp.physio_ids == [18949, 18950, 18951] and bp.attr_val_map == [(0x0A75, 10), (0x0990, 8)]

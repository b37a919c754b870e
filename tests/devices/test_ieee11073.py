"""Every 20601 APDU type decoded from hand-built/published vectors and re-encoded byte for byte."""

from __future__ import annotations

from datetime import datetime

import device_vectors as v
import pytest

from renkei.devices import ieee11073 as p
from renkei.devices import phd_reports as rep
from renkei.devices.errors import DeviceCodecError
from renkei.devices.mder import Reader

ALL_VECTORS = [
    v.AARQ_SCALE_4000,
    v.AARE_UNKNOWN_CONFIG,
    v.CONFIG_SCALE_4000,
    v.CONFIG_RSP_4000,
    v.SCAN_FIXED_SCALE,
    v.SCAN_FIXED_SCALE_RSP,
    v.AARQ_SPO2_0190,
    v.UNBUF_FIXED_SPO2,
    v.UNBUF_MP_FIXED_SPO2,
    v.UNBUF_VAR_SPO2,
    v.CONFIRMED_SET,
    v.SET_RESULT,
    v.GET_MDS,
    v.GET_RESULT,
    v.SET_TIME,
    v.SET_TIME_RESULT,
    v.ROER,
    v.RORJ,
    v.RLRQ,
    v.RLRE,
    v.ABRT,
]


@pytest.mark.parametrize("data", ALL_VECTORS, ids=lambda d: d[:2].hex() + "-" + d[-4:].hex())
def test_roundtrip(data: bytes) -> None:
    assert p.encode_apdu(p.decode_apdu(data)) == data


def test_aarq() -> None:
    aarq = p.decode_apdu(v.AARQ_SCALE_4000)
    assert isinstance(aarq, p.Aarq)
    assert aarq.assoc_version == p.ASSOC_VERSION_1
    (proto,) = aarq.protocols
    assert proto.proto_id == 20601
    info = proto.info
    assert isinstance(info, p.PhdAssociationInfo)
    assert info.system_id == b"LNIAGENT"
    assert info.dev_config_id == 0x4000
    assert info.system_type == p.SYS_TYPE_AGENT
    assert info.encoding_rules == p.ENCODING_MDER
    assert (info.data_req_mode_flags, info.data_req_init_agent_count) == (1, 1)
    assert info.options == []


def test_aare_rlrq_rlre_abrt() -> None:
    aare = p.decode_apdu(v.AARE_UNKNOWN_CONFIG)
    assert isinstance(aare, p.Aare) and aare.result == p.AssociateResult.ACCEPTED_UNKNOWN_CONFIG
    assert isinstance(aare.protocol.info, p.PhdAssociationInfo)
    assert aare.protocol.info.system_type == p.SYS_TYPE_MANAGER
    assert p.decode_apdu(v.RLRQ) == p.Rlrq(p.ReleaseReason.NORMAL)
    assert p.decode_apdu(v.RLRE) == p.Rlre(p.ReleaseReason.NORMAL)
    assert p.decode_apdu(v.ABRT) == p.Abrt(p.AbortReason.RESPONSE_TIMEOUT)


def test_config_report_and_response() -> None:
    prst = p.decode_apdu(v.CONFIG_SCALE_4000)
    assert isinstance(prst, p.Prst) and prst.invoke_id == 0x1234
    er = prst.message
    assert isinstance(er, p.EventReport) and er.confirmed and er.event_type == 0x0D1C
    assert isinstance(er.info, rep.ConfigReport)
    assert er.info.config_report_id == 0x4000
    assert [(o.obj_class, o.obj_handle, len(o.attributes)) for o in er.info.objects] == [(6, 1, 4), (6, 3, 4)]
    avm = rep.ava_value(er.info.objects[0].attributes[3])
    assert avm == [(0x0A56, 4), (0x0990, 8)]
    rsp = p.decode_apdu(v.CONFIG_RSP_4000)
    assert isinstance(rsp, p.Prst) and rsp.invoke_id == 0x1234
    assert isinstance(rsp.message, p.EventReportResult)
    assert rsp.message.reply_info == rep.ConfigReportRsp(0x4000, rep.ConfigResult.ACCEPTED)


def test_scan_reports() -> None:
    fixed = p.decode_apdu(v.SCAN_FIXED_SCALE)
    assert isinstance(fixed, p.Prst) and isinstance(fixed.message, p.EventReport)
    info = fixed.message.info
    assert isinstance(info, rep.ScanReportFixed)
    assert info.data_req_id == 0xF000
    assert [o.obj_handle for o in info.observations] == [1, 3, 1, 3]
    assert info.observations[0].data == bytes.fromhex("FF0002FA2007120612100000")
    assert info.observations[0].offset == 34  # absolute offset of obs-val-data in the APDU

    mp = p.decode_apdu(v.UNBUF_MP_FIXED_SPO2)
    assert isinstance(mp, p.Prst) and isinstance(mp.message, p.EventReport)
    assert isinstance(mp.message.info, rep.ScanReportMPFixed)
    assert mp.message.info.persons[0].person_id == 1
    assert len(mp.message.info.persons[0].observations) == 2

    var = p.decode_apdu(v.UNBUF_VAR_SPO2)
    assert isinstance(var, p.Prst) and isinstance(var.message, p.EventReport)
    vinfo = var.message.info
    assert isinstance(vinfo, rep.ScanReportVar)
    first = vinfo.observations[0]
    assert first.obj_handle == 1
    assert rep.ava_value(first.attributes[0]).text == "98"
    assert rep.ava_value(first.attributes[1]) == datetime(2007, 12, 6, 12, 10)


def test_get_set_action_error_reject() -> None:
    get = p.decode_apdu(v.GET_MDS)
    assert get == p.Prst(0x3456, p.Get(0, []))
    res = p.decode_apdu(v.GET_RESULT)
    assert isinstance(res, p.Prst) and isinstance(res.message, p.GetResult)
    assert rep.ava_value(res.message.attributes[0]) == bytes.fromhex("0011223344556677")
    s = p.decode_apdu(v.CONFIRMED_SET)
    assert isinstance(s, p.Prst) and isinstance(s.message, p.Set) and s.message.confirmed
    assert s.message.modifications == [p.AttributeMod(0, rep.Ava(0x0953, b"\x00\x01"))]
    sr = p.decode_apdu(v.SET_RESULT)
    assert isinstance(sr, p.Prst) and sr.message == p.SetResult(55, [rep.Ava(0x0953, b"\x00\x01")])
    act = p.decode_apdu(v.SET_TIME)
    assert isinstance(act, p.Prst) and isinstance(act.message, p.Action)
    assert act.message.action_type == 0x0C17 and act.message.confirmed
    assert Reader(act.message.args).abs_time() == datetime(2024, 5, 1, 7, 30)
    assert p.decode_apdu(v.SET_TIME_RESULT) == p.Prst(2, p.ActionResult(0, 0x0C17, b""))
    assert p.decode_apdu(v.ROER) == p.Prst(5, p.ErrorResult(p.ErrorValue.INVALID_OBJECT_INSTANCE, b""))
    assert p.decode_apdu(v.RORJ) == p.Prst(5, p.RejectResult(p.RejectProblem.UNRECOGNIZED_OPERATION))


def test_unconfirmed_variants_encode_their_own_choice() -> None:
    unconfirmed = p.Prst(1, p.EventReport(0, 0x0D1E, rep.ScanReportVar(0xF000, 0, []), 0, confirmed=False))
    data = p.encode_apdu(unconfirmed)
    assert data[8:10] == b"\x01\x00"
    assert p.decode_apdu(data) == unconfirmed
    for msg, choice in ((p.Set(1, [], confirmed=False), b"\x01\x04"), (p.Action(0, 0x0C1B, b"", False), b"\x01\x06")):
        out = p.encode_apdu(p.Prst(9, msg))
        assert out[8:10] == choice
        assert p.decode_apdu(out) == p.Prst(9, msg)


def test_split_apdus_keeps_offsets() -> None:
    stream = v.AARQ_SCALE_4000 + v.RLRQ + v.ABRT
    assert p.split_apdus(stream) == [(0, v.AARQ_SCALE_4000), (54, v.RLRQ), (60, v.ABRT)]


@pytest.mark.parametrize(
    ("data", "offset", "reason"),
    [
        (v.AARQ_SCALE_4000[:30], 2, "AARQ APDU at byte offset 0: length field says 50, only 26 byte(s) follow"),
        (v.RLRQ + b"\x00", 6, "RLRQ APDU at byte offset 0: 1 byte(s) after it"),
        (bytes.fromhex("E80000020000"), 0, "unknown APDU choice 0xE800"),
        (bytes.fromhex("E700000A00080005050000020001"), 8, "unknown DataApdu message choice 0x0500"),
        (bytes.fromhex("E20000"), 2, "truncated AARQ APDU at byte offset 0: length"),
        # PRST whose octet string says 0x10 but the APDU length leaves 8
        (bytes.fromhex("E700000A00100005040000020065"), 2, "inner length at byte offset 4 says 16 (needs 8)"),
        # event report whose event-info length (0x30) runs past the message body
        (bytes.fromhex("E7000012001012340101000A0000FFFFFFFF0D1D0030"), 22, "truncated event-info"),
        # GET with attribute-id-list length not 2 x count
        (bytes.fromhex("E7000010000E345601030008000000010003 0000".replace(" ", "")), 16, "does not match count"),
        # config report whose config-obj-list length (8) overruns its event-info (4 bytes left)
        (
            bytes.fromhex("E700001C001A123401010014 0000FFFFFFFF0D1C000A 40000001000800060001".replace(" ", "")),
            28,
            "truncated config-obj-list: need 8 byte(s), 4 left",
        ),
    ],
)
def test_malformed_inputs_name_the_offset(data: bytes, offset: int, reason: str) -> None:
    with pytest.raises(DeviceCodecError) as info:
        p.decode_apdu(data)
    assert info.value.offset == offset, str(info.value)
    assert reason in info.value.reason
    assert str(info.value).startswith(f"byte offset {offset}: ")


def test_split_apdus_rejects_truncated_tail() -> None:
    with pytest.raises(DeviceCodecError) as info:
        p.split_apdus(v.RLRQ + v.AARQ_SCALE_4000[:10])
    assert info.value.offset == 8
    assert "AARQ APDU at byte offset 6: length field says 50, only 6 byte(s) follow" in info.value.reason

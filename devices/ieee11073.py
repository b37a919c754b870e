"""IEEE 11073-20601 APDUs: MDER encode/decode of every APDU the optimized exchange uses (types: apdu_types.py).

    APDU (choice u16, length u16)
    ├── E200 Aarq   association request (assoc-version, data-proto-list → PhdAssociationInfo)
    ├── E300 Aare   association response (result, selected data-proto)
    ├── E400 Rlrq / E500 Rlre   release request / response (reason)
    ├── E600 Abrt   abort (reason)
    └── E700 Prst   presentation APDU = OCTET STRING holding a DataApdu (invoke-id, message choice):
        0100/0101 EventReport (unconfirmed/confirmed)   0201 EventReportResult
        0103 Get              0203 GetResult
        0104/0105 Set         0205 SetResult
        0106/0107 Action      0207 ActionResult
        0300 ErrorResult      0400 RejectResult

`decode_apdu(data)` decodes exactly one APDU; `split_apdus(data)` cuts a byte stream holding several back
to back; `encode_apdu(apdu)` is the inverse. Event-info of the known event types (config report, scan
reports) is decoded into the classes of `phd_reports`; other event-info stays bytes. Every malformed
input raises `DeviceCodecError` naming the byte offset.
"""

from __future__ import annotations

from renkei.devices import phd_reports as reports
from renkei.devices.apdu_types import (
    ASSOC_VERSION_1,
    DATA_PROTO_ID_20601,
    DATA_REQ_ID_AGENT_INITIATED,
    DATA_REQ_SUPP_INIT_AGENT,
    ENCODING_MDER,
    NOMENCLATURE_VERSION_1,
    PROTOCOL_VERSION_1,
    SYS_TYPE_AGENT,
    SYS_TYPE_MANAGER,
    Aare,
    Aarq,
    AbortReason,
    Abrt,
    Action,
    ActionResult,
    Apdu,
    ApduChoice,
    AssociateResult,
    AttributeMod,
    DataProto,
    ErrorResult,
    ErrorValue,
    EventReport,
    EventReportResult,
    Get,
    GetResult,
    Message,
    MessageChoice,
    PhdAssociationInfo,
    Prst,
    RejectProblem,
    RejectResult,
    ReleaseReason,
    Rlre,
    Rlrq,
    Set,
    SetResult,
)
from renkei.devices.errors import DeviceCodecError
from renkei.devices.mder import Reader, Writer

# The APDU types are re-exported: callers import everything 20601 from this module.
__all__ = [
    "ASSOC_VERSION_1", "DATA_PROTO_ID_20601", "DATA_REQ_ID_AGENT_INITIATED", "DATA_REQ_SUPP_INIT_AGENT",
    "ENCODING_MDER", "NOMENCLATURE_VERSION_1", "PROTOCOL_VERSION_1", "SYS_TYPE_AGENT", "SYS_TYPE_MANAGER",
    "Aare", "Aarq", "AbortReason", "Abrt", "Action", "ActionResult", "Apdu", "ApduChoice", "AssociateResult",
    "AttributeMod", "DataProto", "ErrorResult", "ErrorValue", "EventReport", "EventReportResult", "Get",
    "GetResult", "Message", "MessageChoice", "PhdAssociationInfo", "Prst", "RejectProblem", "RejectResult",
    "ReleaseReason", "Rlre", "Rlrq", "Set", "SetResult", "apdu_name", "decode_apdu", "encode_apdu",
    "reason_detail", "split_apdus",
]  # fmt: skip


# ---------------------------------------------------------------------------------------------- decoding


# per APDU choice: (offset in the body of an inner length field, bytes in the body before that field's
# content); the inner length must account for exactly the rest of the body (20601 §A.11: every length
# is the length of what follows it)
_INNER_LENGTHS = {
    ApduChoice.AARQ: (6, 8),  # assoc-version u32, data-proto-list count u16, length u16
    ApduChoice.AARE: (4, 6),  # result u16, data-proto-id u16, data-proto-info length u16
    ApduChoice.PRST: (0, 2),  # the DataApdu OCTET STRING length
}
_FIXED_LENGTHS = {ApduChoice.RLRQ: 2, ApduChoice.RLRE: 2, ApduChoice.ABRT: 2}


def _check_apdu_lengths(data: bytes, start: int, base: int) -> int:
    """Check the APDU at `start` (its own and inner length fields against its content); returns its end."""
    r = Reader(data, base, start)
    choice = r.u16("APDU choice")
    if choice not in ApduChoice._value2member_map_:
        raise r.fail(f"unknown APDU choice 0x{choice:04X}", start)
    name = ApduChoice(choice).name
    where = f"{name} APDU at byte offset {base + start}"
    length = r.u16(f"{where}: length")
    body = start + 4
    if body + length > len(data):
        raise r.fail(f"{where}: length field says {length}, only {len(data) - body} byte(s) follow", start + 2)
    fixed = _FIXED_LENGTHS.get(ApduChoice(choice))
    if fixed is not None and length != fixed:
        raise r.fail(f"{where}: length field says {length}, its content is {fixed} bytes", start + 2)
    inner = _INNER_LENGTHS.get(ApduChoice(choice))
    if inner is not None:
        at, before = inner
        if length < before:
            raise r.fail(f"{where}: length field says {length}, its fixed fields alone need {before}", start + 2)
        declared = int.from_bytes(data[body + at : body + at + 2], "big")
        if declared != length - before:
            raise r.fail(
                f"{where}: length field says {length} but the inner length at byte offset {base + body + at}"
                f" says {declared} (needs {length - before})",
                start + 2,
            )
        if choice == ApduChoice.PRST and length >= 8:
            mlen = int.from_bytes(data[body + 6 : body + 8], "big")
            if mlen != length - 8:
                raise r.fail(
                    f"{where}: message length at byte offset {base + body + 6} says {mlen}, the APDU leaves"
                    f" {length - 8}",
                    start + 2,
                )
    return body + length


def split_apdus(data: bytes, base: int = 0) -> list[tuple[int, bytes]]:
    """Cut back-to-back APDUs: [(offset, apdu bytes)]. Each APDU's length fields are checked against its
    content, so a wrong length is reported at that APDU (naming its offset), never at the next one."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        end = _check_apdu_lengths(data, pos, base)
        out.append((base + pos, data[pos:end]))
        pos = end
    return out


def decode_apdu(data: bytes, base: int = 0) -> Apdu:
    """Decode exactly one APDU; `base` is added to offsets in error messages."""
    end = _check_apdu_lengths(data, 0, base)
    if end != len(data):
        name = ApduChoice(int.from_bytes(data[:2], "big")).name
        raise DeviceCodecError(
            f"{name} APDU at byte offset {base}: {len(data) - end} byte(s) after it (length field says {end - 4})",
            base + end,
        )
    r = Reader(data, base, 4)
    decoder = _APDU_DECODERS[int.from_bytes(data[:2], "big")]
    apdu = decoder(r)
    r.expect_end(f"{ApduChoice(int.from_bytes(data[:2], 'big')).name} APDU")
    return apdu


def _decode_assoc_info(r: Reader) -> PhdAssociationInfo:
    info = PhdAssociationInfo(system_id=b"", dev_config_id=0)
    info.protocol_version = r.u32("protocolVersion")
    info.encoding_rules = r.u16("encodingRules")
    info.nomenclature_version = r.u32("nomenclatureVersion")
    info.functional_units = r.u32("functionalUnits")
    info.system_type = r.u32("systemType")
    info.system_id = r.octet_string("system-id")
    info.dev_config_id = r.u16("dev-config-id")
    info.data_req_mode_flags = r.u16("data-req-mode-flags")
    info.data_req_init_agent_count = r.u8("data-req-init-agent-count")
    info.data_req_init_manager_count = r.u8("data-req-init-manager-count")
    info.options = reports.decode_attribute_list(r, "optionList")
    return info


def _decode_data_proto(r: Reader) -> DataProto:
    proto_id = r.u16("data-proto-id")
    n = r.u16("data-proto-info length")
    sub = r.sub(n, "data-proto-info")
    if proto_id == DATA_PROTO_ID_20601 and n:
        info: PhdAssociationInfo | bytes = _decode_assoc_info(sub)
        sub.expect_end("PhdAssociationInformation")
    else:
        info = sub.raw(n, "data-proto-info")
    return DataProto(proto_id, info)


def _decode_aarq(r: Reader) -> Aarq:
    version = r.u32("assoc-version")
    count = r.u16("data-proto-list count")
    length = r.u16("data-proto-list length")
    sub = r.sub(length, "data-proto-list")
    protos = [_decode_data_proto(sub) for _ in range(count)]
    sub.expect_end("data-proto-list")
    return Aarq(protos, version)


def _decode_aare(r: Reader) -> Aare:
    result = r.u16("result")
    return Aare(result, _decode_data_proto(r))


def _decode_prst(r: Reader) -> Prst:
    n = r.u16("PRST octet string length")
    sub = r.sub(n, "PRST data")
    invoke_id = sub.u16("invoke-id")
    start = sub.pos
    choice = sub.u16("message choice")
    length = sub.u16("message length")
    body = sub.sub(length, "message body")
    decoder = _MESSAGE_DECODERS.get(choice)
    if decoder is None:
        raise sub.fail(f"unknown DataApdu message choice 0x{choice:04X}", start)
    message = decoder(body, choice)
    body.expect_end(f"message 0x{choice:04X}")
    sub.expect_end("DataApdu")
    return Prst(invoke_id, message)


def _decode_event_report(r: Reader, choice: int) -> EventReport:
    handle = r.u16("obj-handle")
    time = r.u32("event-time")
    event_type = r.u16("event-type")
    n = r.u16("event-info length")
    info = reports.decode_event_info(event_type, r.sub(n, "event-info"))
    return EventReport(handle, event_type, info, time, choice == MessageChoice.ROIV_CONFIRMED_EVENT_REPORT)


def _decode_event_report_result(r: Reader, choice: int) -> EventReportResult:
    handle = r.u16("obj-handle")
    time = r.u32("currentTime")
    event_type = r.u16("event-type")
    n = r.u16("event-reply-info length")
    sub = r.sub(n, "event-reply-info")
    reply: reports.ConfigReportRsp | bytes
    if event_type == reports.MDC_NOTI_CONFIG and n:
        reply = reports.ConfigReportRsp(sub.u16("config-report-id"), sub.u16("config-result"))
        sub.expect_end("ConfigReportRsp")
    else:
        reply = sub.raw(n)
    return EventReportResult(handle, event_type, reply, time)


def _decode_get(r: Reader, choice: int) -> Get:
    handle = r.u16("obj-handle")
    count = r.u16("attribute-id-list count")
    length = r.u16("attribute-id-list length")
    if length != 2 * count:
        raise r.fail(f"attribute-id-list length {length} does not match count {count}", r.pos - 2)
    return Get(handle, [r.u16("attribute-id") for _ in range(count)])


def _decode_get_result(r: Reader, choice: int) -> GetResult:
    return GetResult(r.u16("obj-handle"), reports.decode_attribute_list(r))


def _decode_set(r: Reader, choice: int) -> Set:
    handle = r.u16("obj-handle")
    count = r.u16("modification-list count")
    length = r.u16("modification-list length")
    sub = r.sub(length, "modification-list")
    mods = []
    for _ in range(count):
        op = sub.u16("modify-operator")
        mods.append(AttributeMod(op, reports.decode_ava(sub)))
    sub.expect_end("modification-list")
    return Set(handle, mods, choice == MessageChoice.ROIV_CONFIRMED_SET)


def _decode_set_result(r: Reader, choice: int) -> SetResult:
    return SetResult(r.u16("obj-handle"), reports.decode_attribute_list(r))


def _decode_action(r: Reader, choice: int) -> Action:
    handle = r.u16("obj-handle")
    action_type = r.u16("action-type")
    args = r.octet_string("action-info-args")
    return Action(handle, action_type, args, choice == MessageChoice.ROIV_CONFIRMED_ACTION)


def _decode_action_result(r: Reader, choice: int) -> ActionResult:
    handle = r.u16("obj-handle")
    action_type = r.u16("action-type")
    return ActionResult(handle, action_type, r.octet_string("action-info-args"))


def _decode_error(r: Reader, choice: int) -> ErrorResult:
    return ErrorResult(r.u16("error-value"), r.octet_string("parameter"))


def _decode_reject(r: Reader, choice: int) -> RejectResult:
    return RejectResult(r.u16("problem"))


_APDU_DECODERS = {
    ApduChoice.AARQ: _decode_aarq,
    ApduChoice.AARE: _decode_aare,
    ApduChoice.RLRQ: lambda r: Rlrq(r.u16("release reason")),
    ApduChoice.RLRE: lambda r: Rlre(r.u16("release reason")),
    ApduChoice.ABRT: lambda r: Abrt(r.u16("abort reason")),
    ApduChoice.PRST: _decode_prst,
}

_MESSAGE_DECODERS = {
    MessageChoice.ROIV_EVENT_REPORT: _decode_event_report,
    MessageChoice.ROIV_CONFIRMED_EVENT_REPORT: _decode_event_report,
    MessageChoice.ROIV_GET: _decode_get,
    MessageChoice.ROIV_SET: _decode_set,
    MessageChoice.ROIV_CONFIRMED_SET: _decode_set,
    MessageChoice.ROIV_ACTION: _decode_action,
    MessageChoice.ROIV_CONFIRMED_ACTION: _decode_action,
    MessageChoice.RORS_CONFIRMED_EVENT_REPORT: _decode_event_report_result,
    MessageChoice.RORS_GET: _decode_get_result,
    MessageChoice.RORS_CONFIRMED_SET: _decode_set_result,
    MessageChoice.RORS_CONFIRMED_ACTION: _decode_action_result,
    MessageChoice.ROER: _decode_error,
    MessageChoice.RORJ: _decode_reject,
}


# ---------------------------------------------------------------------------------------------- encoding


def _encode_assoc_info(info: PhdAssociationInfo) -> bytes:
    w = Writer()
    w.u32(info.protocol_version).u16(info.encoding_rules).u32(info.nomenclature_version)
    w.u32(info.functional_units).u32(info.system_type).octet_string(info.system_id)
    w.u16(info.dev_config_id).u16(info.data_req_mode_flags)
    w.u8(info.data_req_init_agent_count).u8(info.data_req_init_manager_count)
    w.raw(reports.encode_attribute_list(info.options))
    return w.bytes()


def _encode_data_proto(p: DataProto) -> bytes:
    info = _encode_assoc_info(p.info) if isinstance(p.info, PhdAssociationInfo) else p.info
    return Writer().u16(p.proto_id).octet_string(info).bytes()


def _encode_message(m: Message) -> tuple[int, bytes]:
    w = Writer()
    if isinstance(m, EventReport):
        info = m.info if isinstance(m.info, bytes) else reports.encode_event_info(m.info)
        w.u16(m.obj_handle).u32(m.event_time).u16(m.event_type).octet_string(info)
        choice = MessageChoice.ROIV_CONFIRMED_EVENT_REPORT if m.confirmed else MessageChoice.ROIV_EVENT_REPORT
    elif isinstance(m, EventReportResult):
        if isinstance(m.reply_info, reports.ConfigReportRsp):
            reply = Writer().u16(m.reply_info.config_report_id).u16(m.reply_info.config_result).bytes()
        else:
            reply = m.reply_info
        w.u16(m.obj_handle).u32(m.current_time).u16(m.event_type).octet_string(reply)
        choice = MessageChoice.RORS_CONFIRMED_EVENT_REPORT
    elif isinstance(m, Get):
        w.u16(m.obj_handle).u16(len(m.attribute_ids)).u16(2 * len(m.attribute_ids))
        for a in m.attribute_ids:
            w.u16(a)
        choice = MessageChoice.ROIV_GET
    elif isinstance(m, GetResult | SetResult):
        w.u16(m.obj_handle).raw(reports.encode_attribute_list(m.attributes))
        choice = MessageChoice.RORS_GET if isinstance(m, GetResult) else MessageChoice.RORS_CONFIRMED_SET
    elif isinstance(m, Set):
        body = b"".join(
            Writer().u16(x.modify_operator).raw(reports.encode_ava(x.attribute)).bytes() for x in m.modifications
        )
        w.u16(m.obj_handle).u16(len(m.modifications)).octet_string(body)
        choice = MessageChoice.ROIV_CONFIRMED_SET if m.confirmed else MessageChoice.ROIV_SET
    elif isinstance(m, Action):
        w.u16(m.obj_handle).u16(m.action_type).octet_string(m.args)
        choice = MessageChoice.ROIV_CONFIRMED_ACTION if m.confirmed else MessageChoice.ROIV_ACTION
    elif isinstance(m, ActionResult):
        w.u16(m.obj_handle).u16(m.action_type).octet_string(m.args)
        choice = MessageChoice.RORS_CONFIRMED_ACTION
    elif isinstance(m, ErrorResult):
        w.u16(m.error_value).octet_string(m.parameter)
        choice = MessageChoice.ROER
    elif isinstance(m, RejectResult):
        w.u16(m.problem)
        choice = MessageChoice.RORJ
    else:  # pragma: no cover - the Message union is closed
        raise TypeError(f"not a DataApdu message: {type(m).__name__}")
    return choice, w.bytes()


def encode_apdu(apdu: Apdu) -> bytes:
    """MDER bytes of one APDU (choice, length, body)."""
    w = Writer()
    if isinstance(apdu, Aarq):
        protos = b"".join(_encode_data_proto(p) for p in apdu.protocols)
        w.u32(apdu.assoc_version).u16(len(apdu.protocols)).octet_string(protos)
        choice = ApduChoice.AARQ
    elif isinstance(apdu, Aare):
        w.u16(apdu.result).raw(_encode_data_proto(apdu.protocol))
        choice = ApduChoice.AARE
    elif isinstance(apdu, Rlrq | Rlre | Abrt):
        w.u16(apdu.reason)
        choice = {Rlrq: ApduChoice.RLRQ, Rlre: ApduChoice.RLRE, Abrt: ApduChoice.ABRT}[type(apdu)]
    elif isinstance(apdu, Prst):
        mchoice, body = _encode_message(apdu.message)
        data = Writer().u16(apdu.invoke_id).u16(mchoice).octet_string(body).bytes()
        w.octet_string(data)
        choice = ApduChoice.PRST
    else:
        raise TypeError(f"not an APDU: {type(apdu).__name__}")
    return Writer().u16(choice).octet_string(w.bytes()).bytes()


def reason_detail(apdu: Rlrq | Rlre | Abrt) -> dict[str, object]:
    """{"reason": 2, "reason_name": "configuration-changed"}: the code and its 20601 name (or "unknown-N")."""
    enum = AbortReason if isinstance(apdu, Abrt) else ReleaseReason
    member = enum._value2member_map_.get(apdu.reason)
    name = member.name.lower().replace("_", "-") if member is not None else f"unknown-{apdu.reason}"
    return {"reason": apdu.reason, "reason_name": name}


def apdu_name(apdu: Apdu) -> str:
    """Short name for logs and JSON: "AARQ", "PRST roiv-confirmed-event-report", …"""
    if isinstance(apdu, Prst):
        return f"PRST {type(apdu.message).__name__}"
    return type(apdu).__name__.upper()

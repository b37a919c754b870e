"""IEEE 11073-20601 APDU types: the choices, reasons and results as enums, and one dataclass per APDU and
per DataApdu message (the model `ieee11073.py` encodes and decodes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from renkei.devices import phd_reports as reports

DATA_PROTO_ID_20601 = 20601  # 0x5079
PROTOCOL_VERSION_1 = 0x80000000
ASSOC_VERSION_1 = 0x80000000
ENCODING_MDER = 0x8000
NOMENCLATURE_VERSION_1 = 0x80000000
SYS_TYPE_MANAGER = 0x80000000
SYS_TYPE_AGENT = 0x00800000
DATA_REQ_SUPP_INIT_AGENT = 0x0001
DATA_REQ_ID_AGENT_INITIATED = 0xF000


class ApduChoice(IntEnum):
    AARQ = 0xE200
    AARE = 0xE300
    RLRQ = 0xE400
    RLRE = 0xE500
    ABRT = 0xE600
    PRST = 0xE700


class AssociateResult(IntEnum):
    ACCEPTED = 0
    REJECTED_PERMANENT = 1
    REJECTED_TRANSIENT = 2
    ACCEPTED_UNKNOWN_CONFIG = 3
    REJECTED_NO_COMMON_PROTOCOL = 4
    REJECTED_NO_COMMON_PARAMETER = 5
    REJECTED_UNKNOWN = 6
    REJECTED_UNAUTHORIZED = 7
    REJECTED_UNSUPPORTED_ASSOC_VERSION = 8


class ReleaseReason(IntEnum):
    NORMAL = 0
    NO_MORE_CONFIGURATIONS = 1
    CONFIGURATION_CHANGED = 2


class AbortReason(IntEnum):
    UNDEFINED = 0
    BUFFER_OVERFLOW = 1
    RESPONSE_TIMEOUT = 2
    CONFIGURATION_TIMEOUT = 3


class ErrorValue(IntEnum):
    NO_SUCH_OBJECT_INSTANCE = 1
    NO_SUCH_ACTION = 9
    INVALID_OBJECT_INSTANCE = 17
    PROTOCOL_VIOLATION = 23
    NOT_ALLOWED_BY_OBJECT = 24
    ACTION_TIMED_OUT = 25
    ACTION_ABORTED = 26


class RejectProblem(IntEnum):
    UNRECOGNIZED_APDU = 0
    BADLY_STRUCTURED_APDU = 2
    UNRECOGNIZED_OPERATION = 101
    RESOURCE_LIMITATION = 103
    UNEXPECTED_ERROR = 303


class MessageChoice(IntEnum):
    ROIV_EVENT_REPORT = 0x0100
    ROIV_CONFIRMED_EVENT_REPORT = 0x0101
    ROIV_GET = 0x0103
    ROIV_SET = 0x0104
    ROIV_CONFIRMED_SET = 0x0105
    ROIV_ACTION = 0x0106
    ROIV_CONFIRMED_ACTION = 0x0107
    RORS_CONFIRMED_EVENT_REPORT = 0x0201
    RORS_GET = 0x0203
    RORS_CONFIRMED_SET = 0x0205
    RORS_CONFIRMED_ACTION = 0x0207
    ROER = 0x0300
    RORJ = 0x0400


# ---------------------------------------------------------------------------------------------- dataclasses


@dataclass(slots=True)
class PhdAssociationInfo:
    system_id: bytes
    dev_config_id: int
    system_type: int = SYS_TYPE_AGENT
    protocol_version: int = PROTOCOL_VERSION_1
    encoding_rules: int = ENCODING_MDER
    nomenclature_version: int = NOMENCLATURE_VERSION_1
    functional_units: int = 0
    data_req_mode_flags: int = DATA_REQ_SUPP_INIT_AGENT
    data_req_init_agent_count: int = 1
    data_req_init_manager_count: int = 0
    options: list[reports.Ava] = field(default_factory=list)


@dataclass(slots=True)
class DataProto:
    proto_id: int
    info: PhdAssociationInfo | bytes  # bytes for protocols other than 20601


@dataclass(slots=True)
class Aarq:
    protocols: list[DataProto]
    assoc_version: int = ASSOC_VERSION_1


@dataclass(slots=True)
class Aare:
    result: int
    protocol: DataProto


@dataclass(slots=True)
class Rlrq:
    reason: int = ReleaseReason.NORMAL


@dataclass(slots=True)
class Rlre:
    reason: int = ReleaseReason.NORMAL


@dataclass(slots=True)
class Abrt:
    reason: int = AbortReason.UNDEFINED


@dataclass(slots=True)
class EventReport:
    obj_handle: int
    event_type: int
    info: reports.EventInfo | bytes
    event_time: int = 0xFFFFFFFF
    confirmed: bool = True


@dataclass(slots=True)
class EventReportResult:
    obj_handle: int
    event_type: int
    reply_info: reports.ConfigReportRsp | bytes = b""
    current_time: int = 0


@dataclass(slots=True)
class Get:
    obj_handle: int
    attribute_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class GetResult:
    obj_handle: int
    attributes: list[reports.Ava] = field(default_factory=list)


@dataclass(slots=True)
class AttributeMod:
    modify_operator: int  # 0 replace, 1 add-values, 2 remove-values, 3 set-to-default
    attribute: reports.Ava


@dataclass(slots=True)
class Set:
    obj_handle: int
    modifications: list[AttributeMod]
    confirmed: bool = True


@dataclass(slots=True)
class SetResult:
    obj_handle: int
    attributes: list[reports.Ava] = field(default_factory=list)


@dataclass(slots=True)
class Action:
    obj_handle: int
    action_type: int
    args: bytes = b""
    confirmed: bool = True


@dataclass(slots=True)
class ActionResult:
    obj_handle: int
    action_type: int
    args: bytes = b""


@dataclass(slots=True)
class ErrorResult:
    error_value: int
    parameter: bytes = b""


@dataclass(slots=True)
class RejectResult:
    problem: int


Message = (
    EventReport
    | EventReportResult
    | Get
    | GetResult
    | Set
    | SetResult
    | Action
    | ActionResult
    | ErrorResult
    | RejectResult
)


@dataclass(slots=True)
class Prst:
    invoke_id: int
    message: Message


Apdu = Aarq | Aare | Rlrq | Rlre | Abrt | Prst

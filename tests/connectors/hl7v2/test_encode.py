"""The outbound HL7 v2 encoder (ORU^R01, MDM^T02) and the mllp-sender delivering record payloads to a socket."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from support.mllp_ehr import MllpEhr

from renkei.connectors.hl7v2 import MessageHeader, decode_iso2022jp, encode_records, read_header, split
from renkei.connectors.mllp import MLLPSender
from renkei.errors import InputError, PermanentDeliveryError, RetryableDeliveryError
from renkei.mappings.vital_text import read_vital_text
from renkei.records import Coding, Condition, Note

JST = timezone(timedelta(hours=9))
AT = datetime(2024, 4, 1, 9, 30, tzinfo=JST)


def _vitals(pid: str = "P0042"):
    return read_vital_text("BT 37.5 BP 132/84", patient_id=pid, measured_at=AT, reporter="nurse.sato",
                           record_key="builtin/3")  # fmt: skip


def _note(text: str = "了解しました|明日^訪問~します&\\以上\n二行目") -> Note:
    return Note(patient_id="P0042", record_key="matrix/$ev", text=text, author="@nurse:localhost", written_at=AT)


def _msh(text: str) -> list[str]:
    """fields[i] is MSH-i."""
    fields = text.split("\r", 1)[0].split("|")
    fields.insert(1, "|")
    return fields


def test_vitals_become_an_oru_r01_with_one_obx_per_reading() -> None:
    text = encode_records(_vitals(), MessageHeader(sending_application="RENKEI", receiving_application="EHR"), AT)
    msg = split(text, "t")
    h = _msh(text)
    assert h[9] == "ORU^R01^ORU_R01" and h[10] == "" and h[7] == "20240401093000+0900"
    assert h[18] == "UNICODE UTF-8" and h[12] == "2.5" and (h[3], h[5]) == ("RENKEI", "EHR")
    assert [s[0] for s in msg.segments] == ["MSH", "PID", "OBR", "OBX", "OBX", "OBX"]
    assert msg.c(msg.first("PID"), 3, 1) == "P0042" and msg.c(msg.first("PID"), 3, 5) == "PI"
    rows = [(msg.c(s, 2), msg.c(s, 3, 1), msg.c(s, 3, 3), msg.f(s, 5), msg.f(s, 6), msg.f(s, 11), msg.f(s, 14),
             msg.f(s, 16)) for s in msg.all("OBX")]  # fmt: skip
    assert rows == [
        ("NM", "19292", "MDC", "37.5", "Cel", "F", "20240401093000+0900", "nurse.sato"),
        ("NM", "18949", "MDC", "132", "mm[Hg]", "F", "20240401093000+0900", "nurse.sato"),
        ("NM", "18950", "MDC", "84", "mm[Hg]", "F", "20240401093000+0900", "nurse.sato"),
    ]


def test_a_note_becomes_an_mdm_t02_with_its_text_escaped_line_by_line() -> None:
    text = encode_records([_note()], MessageHeader(), AT)
    msg = split(text, "t")
    assert _msh(text)[9] == "MDM^T02^MDM_T02" and _msh(text)[10] == ""  # MSH-10: the sender's to fill
    assert [s[0] for s in msg.segments] == ["MSH", "EVN", "PID", "PV1", "TXA", "OBX", "OBX"]
    txa = msg.first("TXA")
    assert (msg.f(txa, 2), msg.f(txa, 3), msg.f(txa, 9), msg.f(txa, 12), msg.f(txa, 17)) == (
        "PR", "TX", "@nurse:localhost", "matrix/$ev", "AU",
    )  # fmt: skip
    # escapes undone on read: the separators typed in the reply come back as typed, nothing breaks
    assert [msg.f(s, 5) for s in msg.all("OBX")] == ["了解しました|明日^訪問~します&\\以上", "二行目"]


def test_what_cannot_be_encoded_is_refused_not_guessed() -> None:
    with pytest.raises(InputError, match="exactly one patient"):
        encode_records([*_vitals("P1"), *_vitals("P2")], MessageHeader())
    with pytest.raises(InputError, match="kind condition"):
        encode_records([Condition(patient_id="P1", code=Coding("20054174", "胃炎", "MDCDX2"))], MessageHeader())
    with pytest.raises(InputError, match="no records"):
        encode_records([], MessageHeader())


def _sender(port: int, **msh) -> MLLPSender:
    settings = {"host": "127.0.0.1", "port": port, "backoff_seconds": 0, "ack_timeout": 2, "attempts": 1}
    return MLLPSender("ehr", MLLPSender.Settings(**settings, msh=msh))


def test_the_sender_encodes_records_in_iso_2022_jp_with_a_control_id_stable_per_key() -> None:
    ehr = MllpEhr()
    try:
        payload = {"patient_id": "P0042", "data_type": "REPLY", "records": [_note("本日は落ち着いています").to_dict()]}
        with _sender(ehr.port, charset="~ISO IR87") as a, _sender(ehr.port, charset="~ISO IR87") as b:
            first = a.deliver(payload, "delivery-key-1")
            again = b.deliver(payload, "delivery-key-1")  # another process after a restart: the same MSH-10
            other = a.deliver(payload, "delivery-key-2")
    finally:
        ehr.close()
    control = hashlib.sha256(b"delivery-key-1").hexdigest()[:20]
    assert first == again == f"127.0.0.1:{ehr.port}/{control}" and other != first
    assert len(ehr.received) == 3 and len(ehr.stored) == 2  # the EHR keeps one per control id
    raw = ehr.stored[control]
    assert b"\x1b$B" in raw and "本日は落ち着いています".encode() not in raw  # JIS on the wire, not UTF-8
    text, defects = decode_iso2022jp(raw, "t")
    assert not defects and "本日は落ち着いています" in text and read_header(raw).get(18) == "~ISO IR87"


@pytest.mark.parametrize("code", ["AE", "AR"])
def test_ae_and_ar_fail_the_delivery_with_the_ehr_reason(code: str) -> None:
    ehr = MllpEhr(lambda raw: code)
    try:
        with _sender(ehr.port) as out, pytest.raises(PermanentDeliveryError, match=f"refused with {code}: 患者ID"):
            out.deliver({"records": [r.to_dict() for r in _vitals()]}, "k")
    finally:
        ehr.close()
    assert not ehr.stored


def test_no_ack_is_retryable() -> None:
    ehr = MllpEhr(lambda raw: None)
    try:
        with _sender(ehr.port) as out, pytest.raises(RetryableDeliveryError, match="no ACK"):
            out.deliver({"records": [r.to_dict() for r in _vitals()]}, "k")
    finally:
        ehr.close()
    assert len(ehr.received) == 1


def test_a_payload_that_is_not_records_is_a_permanent_failure() -> None:
    with _sender(9) as out, pytest.raises(PermanentDeliveryError, match="not canonical records"):
        out.deliver({"records": [{"kind": "note"}]}, "k")

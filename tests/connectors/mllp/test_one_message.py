"""Intake rules over a real MLLP socket: one message per frame, framing by evidence (docs/hl7v2.md)."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from renkei.connectors.mllp import read_ack
from renkei.connectors.mllp.framing import FrameDecoder, frame
from renkei.errors import NotFoundError
from renkei.pipelines.schema import MessageState, messages


def _ack(port: int, payload: bytes):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(frame(payload))
        d, got = FrameDecoder(), []
        while not got:
            got = d.feed(s.recv(65536))
        return read_ack(got[0].decode("utf-8"))


def _stored(engine) -> list[tuple[str, str, str]]:
    with engine.store.read() as conn:
        rows = conn.execute(
            sa.select(messages.c.source_key, messages.c.state, messages.c.reason).order_by(messages.c.id)
        )
        return [tuple(r) for r in rows]


def _timeline(engine, patient_id: str) -> list[dict]:
    """The patient's posts; [] when the timeline has no group for them (nothing was ever posted)."""
    tl = engine.connector("timeline")
    try:
        return tl.read(tl.group_for_patient(patient_id))
    except NotFoundError:
        return []


def test_a_frame_with_two_messages_is_stored_quarantined_and_answered_ar(running, messages) -> None:
    engine, listener = running()
    two = messages.OUL("TWO1", pid="1000001") + messages.OUL("TWO2", pid="2000002")
    ack = _ack(listener.port, two.encode())
    assert ack.code == "AR" and ack.control_id == "TWO1"
    assert "second MSH" in ack.text and "one message per SS-MIX2 file or MLLP frame" in ack.text
    assert ack.error_code == "100"
    assert "1000001" not in ack.text + ack.error_text and "2000002" not in ack.text + ack.error_text
    # durably stored before the AR: kept, reprocessable, and quarantined by the engine with the rule
    assert [k for k, _, _ in _stored(engine)] == ["LAB^SEND|TWO1"]
    engine.process_pending("mllp-in")
    ((_key, state, reason),) = _stored(engine)
    assert state == MessageState.QUARANTINED
    assert "[multiple_messages]" in reason and "one message per SS-MIX2 file or MLLP frame" in reason
    assert _timeline(engine, "1000001") == [] and _timeline(engine, "2000002") == []


def test_single_messages_of_the_same_patients_still_flow(running, messages) -> None:
    engine, listener = running()
    assert _ack(listener.port, messages.OUL("ONE1", pid="1000001").encode()).code == "AA"
    assert _ack(listener.port, messages.OUL("ONE2", pid="2000002").encode()).code == "AA"
    engine.process_pending("mllp-in")
    assert len(_timeline(engine, "1000001")) == 1 and len(_timeline(engine, "2000002")) == 1


def test_lf_separated_payload_without_final_terminator_is_read_with_one_warning(running, messages) -> None:
    engine, listener = running()
    payload = messages.OUL("LF1").replace("\r", "\n").rstrip("\n")
    ack = _ack(listener.port, payload.encode())
    assert ack.code == "AA"
    engine.process_pending("mllp-in")
    msg, _ = engine.store.get_message(1)
    assert msg.state == MessageState.SENT
    assert [r["value"] for r in msg.records] == ["7.1", "0.31"]
    framing = [w for w in msg.warnings if "[segment_terminator]" in w]
    assert len(framing) == 1 and "segments end with LF" in framing[0]
    assert len(_timeline(engine, "9999013")) == 1


def test_a_payload_cut_inside_a_segment_is_ae_with_the_evidence(running, messages) -> None:
    engine, listener = running()
    full = messages.OUL("CUT1")
    cut = full[: full.rindex("|H|||F")]  # the last OBX stops before OBX-11 (result status, required)
    ack = _ack(listener.port, cut.encode())
    assert ack.code == "AE" and "ends before required OBX-11" in ack.text
    engine.process_pending("mllp-in")
    ((_key, state, reason),) = _stored(engine)
    assert state == MessageState.QUARANTINED and "OBX-11" in reason and "[truncated]" in reason
    assert _timeline(engine, "9999013") == []


@pytest.mark.parametrize("bad", ["../../etc", "<script>", "'9999013'"])
def test_patient_ids_outside_the_rule_are_ae_naming_pid3_never_the_value(running, messages, bad: str) -> None:
    engine, listener = running()
    with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as s:
        s.sendall(frame(messages.OUL("BAD1", pid=bad).encode()))
        d, got = FrameDecoder(), []
        while not got:
            got = d.feed(s.recv(65536))
    text = got[0].decode("utf-8")
    ack = read_ack(text)
    assert ack.code == "AE" and ack.error_code == "102"
    err = next(seg.split("|") for seg in text.split("\r") if seg.startswith("ERR|"))
    assert err[2] == "PID^1^3"
    assert "patient-id rule" in ack.text and bad not in text
    engine.process_pending("mllp-in")
    ((_key, state, reason),) = _stored(engine)
    assert state == MessageState.QUARANTINED and "[bad_patient_id]" in reason and bad not in reason
    assert _timeline(engine, "9999013") == []


def test_corrupted_msh2_is_answered_ar_in_the_default_separators(running) -> None:
    engine, listener = running()
    raw = b"MSH|^^\\&|HIS|SEND|RENKEI|RCV|20240401090000||ADT^A08|C7|P|2.5\rPID|1||9999013\r"
    with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as s:
        s.sendall(frame(raw))
        d, got = FrameDecoder(), []
        while not got:
            got = d.feed(s.recv(65536))
    text = got[0].decode("utf-8")
    assert text.startswith("MSH|^~\\&|RENKEI|RCV|HIS|SEND|")
    ack = read_ack(text)
    assert ack.code == "AR" and ack.control_id == "C7" and "encoding characters" in ack.text
    assert _stored(engine) == []

"""The MLLP listener against a real Engine + Store: ACK contents, de-duplication, timeouts, TLS, limits."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from renkei.connectors.mllp import MLLPClient, read_ack
from renkei.connectors.mllp.framing import FrameDecoder, frame
from renkei.pipelines.schema import MessageState, messages
from renkei.records import RecordKind


def _split(ack_text: str) -> dict[str, list[str]]:
    return {seg[:3]: seg.split("|") for seg in ack_text.split("\r") if seg}


def _raw_ack(port: int, payload: bytes) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(frame(payload))
        d, got = FrameDecoder(), []
        while not got:
            got = d.feed(s.recv(65536))
        return got[0].decode("utf-8")


def _stored(engine) -> list[tuple[str, str, str]]:
    with engine.store.read() as conn:
        rows = conn.execute(
            sa.select(messages.c.source_key, messages.c.state, messages.c.reason).order_by(messages.c.id)
        )
        return [tuple(r) for r in rows]


def test_aa_ack_contents_and_message_stored(running, messages) -> None:
    engine, listener = running()
    text = _raw_ack(listener.port, messages.ADT("CTRL0001").encode())
    seg = _split(text)
    msh, msa = seg["MSH"], seg["MSA"]
    # sender and receiver swapped, ACK^<trigger>^ACK, fresh control id, version and charset echoed
    assert msh[1] == "^~\\&" and msh[2:6] == ["RENKEI", "RCV", "HIS", "SEND"]
    assert msh[8] == "ACK^A08^ACK" and msh[9] and msh[9] != "CTRL0001"
    assert msh[10] == "P" and msh[11] == "2.5" and msh[17] == "UNICODE UTF-8"
    assert msa[:3] == ["MSA", "AA", "CTRL0001"]
    assert "ERR" not in seg
    assert _stored(engine) == [("HIS^SEND|CTRL0001", MessageState.RECEIVED, "")]


def test_ack_control_ids_are_unique(running, messages) -> None:
    _engine, listener = running()
    with MLLPClient("127.0.0.1", listener.port) as c:
        ids = {c.send(messages.ADT(f"U{i}").encode()).ack_id for i in range(50)}
    assert len(ids) == 50 and all(len(i) <= 20 for i in ids)


def test_duplicate_control_id_is_acknowledged_but_stored_once(running, messages) -> None:
    engine, listener = running()
    with MLLPClient("127.0.0.1", listener.port) as c:
        first = c.send(messages.ADT("DUP1").encode())
        again = c.send(messages.ADT("DUP1").encode())
        other_sender = c.send(messages.ADT("DUP1", sender="OTHER").encode())
    assert (first.code, again.code, other_sender.code) == ("AA", "AA", "AA")
    assert "duplicate" in again.text and "duplicate" not in first.text + other_sender.text
    assert [k for k, _, _ in _stored(engine)] == ["HIS^SEND|DUP1", "OTHER^SEND|DUP1"]
    stats = engine.process_pending("mllp-in")
    assert stats.queued == 2 and stats.sent == 2


def test_duplicates_inside_one_group_commit_batch(make_engine, messages) -> None:
    from renkei.connectors.base import SourceItem

    engine = make_engine()
    raw = messages.ADT("B1").encode()
    item = SourceItem("HIS^SEND|B1", "B1", "HIS^SEND")
    out = engine.ingest("mllp-in", [(item, raw), (item, raw)])
    assert out[0][1] is False and out[1] == (out[0][0], True)
    assert len(_stored(engine)) == 1


def test_ae_for_unsupported_message_type_is_stored_and_quarantined(running, messages) -> None:
    engine, listener = running()
    msg = messages.ADT("AE1").replace("ADT^A08^ADT_A01", "ZZZ^Z99")
    seg = _split(_raw_ack(listener.port, msg.encode()))
    assert seg["MSA"][:3] == ["MSA", "AE", "AE1"]
    assert "message type ZZZ\\S\\Z99 is not supported" in seg["MSA"][3]
    err = seg["ERR"]
    assert err[2] == "MSH^1^9" and err[3] == "200^Unsupported message type^HL70357" and err[4] == "E"
    engine.process_pending("mllp-in")
    ((key, state, reason),) = _stored(engine)
    assert key == "HIS^SEND|AE1" and state == MessageState.QUARANTINED and "ZZZ^Z99 is not supported" in reason


def test_ae_for_a_message_the_parser_refuses(running, messages) -> None:
    engine, listener = running()
    no_pid = "\r".join(s for s in messages.ADT("AE2").split("\r") if not s.startswith("PID")) + "\r"
    ack = read_ack(_raw_ack(listener.port, no_pid.encode()))
    assert ack.code == "AE" and "no PID segment" in ack.text
    assert len(_stored(engine)) == 1


@pytest.mark.parametrize(
    ("payload", "reason", "code"),
    [
        (b"hello world", "not an HL7 v2 message: starts with 0x68 0x65 0x6c 0x6c, not MSH", "100"),
        (b"MSH|A1B2|HIS|SEND|||||ADT^A08|X|P|2.5\r", "MSH-1/MSH-2 do not hold valid encoding characters", "102"),
        (b"MSH|^~\\&|HIS|SEND|||||ADT^A08||P|2.5\rPID|1\r", "MSH-10 (message control id) is empty", "101"),
        (b"MSH|^~\\&|HIS|SEND|||||ADT^A08|C9|P|2.5||||||KOI8\r", "MSH-18 character set 'KOI8' is not supported", "203"),
    ],
)
def test_ar_rejects_are_not_stored(running, payload: bytes, reason: str, code: str) -> None:
    engine, listener = running()
    ack = read_ack(_raw_ack(listener.port, payload))
    assert ack.code == "AR"
    assert ack.text.startswith(reason) and ack.error_text.startswith(reason)
    assert ack.error_code == code
    assert _stored(engine) == []


def test_ar_for_an_oversize_frame_names_the_message(running, messages) -> None:
    engine, listener = running("max_message_bytes: 4096")
    big = messages.ADT("BIG").replace("PV1|0001|O", "PV1|0001|O|" + "X" * 8000)
    with MLLPClient("127.0.0.1", listener.port) as c:
        ack = c.send(big.encode())
        ok = c.send(messages.ADT("SMALL").encode())  # the connection goes on
    assert ack.code == "AR" and ack.control_id == "BIG" and "max_size 4096" in ack.text
    assert ok.code == "AA"
    assert [k for k, _, _ in _stored(engine)] == ["HIS^SEND|SMALL"]


def test_iso_2022_jp_message_per_msh18_parses_to_records(running, messages) -> None:
    engine, listener = running()
    raw = messages.ADT("JIS1", charset="~ISO IR87").encode("iso2022_jp")
    ack = _raw_ack(listener.port, raw)
    assert _split(ack)["MSA"][1] == "AA"
    stats = engine.process_pending("mllp-in")
    assert stats.queued == 1
    msg, _ = engine.store.get_message(1)
    assert msg.data_type == "ADT-00" and msg.patient_id == "9999013"
    (patient,) = msg.records
    assert patient["kind"] == RecordKind.PATIENT and patient["name_kana"] == "ヤマダ ハナコ"
    assert patient["record_key"] == "9999013/ADT-00/@-/patient"  # the same key the SS-MIX2 storage yields


def test_lab_results_become_observations(running, messages) -> None:
    engine, listener = running()
    assert _split(_raw_ack(listener.port, messages.OUL("LAB1").encode()))["MSA"][1] == "AA"
    engine.process_pending("mllp-in")
    msg, _ = engine.store.get_message(1)
    assert msg.data_type == "OML-11"
    assert [(r["code"]["code"], r["value"], r["abnormal_flag"]) for r in msg.records] == [
        ("3A010000002327101", "7.1", "N"),
        ("5C070000002306001", "0.31", "H"),
    ]


def test_default_encoding_setting_applies_when_msh18_is_empty(running, messages) -> None:
    engine, listener = running("encoding: iso-2022-jp")
    raw = messages.ADT("NOCS", charset="").encode("iso2022_jp")
    assert _split(_raw_ack(listener.port, raw))["MSA"][1] == "AA"
    engine.process_pending("mllp-in")
    msg, _ = engine.store.get_message(1)
    assert msg.state == MessageState.SENT and msg.records[0]["name_kanji"] == "山田 花子"


def test_bytes_that_are_not_the_declared_charset_get_ae_with_the_offset(running, messages) -> None:
    engine, listener = running()
    text = messages.ADT("BADUTF8")
    raw = text.encode("cp932")  # Shift_JIS bytes under MSH-18 UNICODE UTF-8
    ack = read_ack(_raw_ack(listener.port, raw))
    first_bad = len(text[: text.index("山")].encode("cp932"))
    assert ack.code == "AE" and f"at byte {first_bad} are not utf-8" in ack.text
    assert len(_stored(engine)) == 1


def test_idle_connection_is_closed(running, messages) -> None:
    _engine, listener = running("idle_timeout: 0.3")
    with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as s:
        s.sendall(frame(messages.ADT("IDLE1").encode()))
        time.sleep(0.1)
        assert b"MSA|AA|IDLE1" in s.recv(65536)
        started = time.monotonic()
        assert s.recv(65536) == b""  # the server closed the connection
        assert 0.15 < time.monotonic() - started < 3
    assert listener.connections == 0


def test_max_connections(running, messages) -> None:
    _engine, listener = running("max_connections: 2")
    held = [socket.create_connection(("127.0.0.1", listener.port), timeout=5) for _ in range(2)]
    try:
        for s in held:  # make sure both are being served before the third arrives
            s.sendall(frame(messages.ADT(f"H{s.fileno()}").encode()))
            assert b"MSA|AA" in s.recv(65536)
        with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as third:
            third.sendall(frame(messages.ADT("T3").encode()))
            try:
                reply = third.recv(65536)
            except ConnectionResetError:
                reply = b""
            assert reply == b""  # refused: closed without an answer
    finally:
        for s in held:
            s.close()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "mllp.pem", folder / "mllp.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_round_trip(running, messages, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    engine, listener = running(f"tls_cert: {cert}\ntls_key: {key}")
    tls = ssl.create_default_context(cafile=str(cert))
    with MLLPClient("127.0.0.1", listener.port, tls=tls) as c:
        assert c.send(messages.ADT("TLS1").encode()).code == "AA"
        assert c.send(messages.ADT("TLS1").encode()).code == "AA"
    assert [k for k, _, _ in _stored(engine)] == ["HIS^SEND|TLS1"]
    # a plain-text client gets nothing stored and no ACK
    with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as s:
        s.sendall(frame(messages.ADT("PLAIN").encode()))
        try:
            reply = s.recv(65536)
        except ConnectionResetError:
            reply = b""
        assert b"MSA" not in reply
    assert len(_stored(engine)) == 1


def test_strict_validation_with_hl7apy(running, messages) -> None:
    engine, listener = running("strict_validation: true")
    ok = read_ack(_raw_ack(listener.port, messages.ADT("S1").encode()))
    broken = messages.ADT("S2").replace("PV1|0001|O\r", "")  # ADT_A01 requires PV1
    bad = read_ack(_raw_ack(listener.port, broken.encode()))
    assert ok.code == "AA"
    assert bad.code == "AE" and bad.text.startswith("strict validation failed")
    assert "Missing required child ADT_A01.PV1" in bad.text
    assert len(_stored(engine)) == 2


def test_storage_failure_sends_no_ack(make_engine, messages) -> None:
    engine = make_engine()
    listener = engine.connector("feed")

    def broken(items):
        raise OSError("disk full")

    listener.start(broken)
    try:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as s:
            s.sendall(frame(messages.ADT("F1").encode()))
            assert s.recv(65536) == b""
    finally:
        listener.stop()

"""Serial decoders: chunks split at every offset, bad frames with offsets, real loop://, socket:// and pty ports."""

from __future__ import annotations

import os
import socket
import threading
import time
import tty
from datetime import datetime

import pytest

from renkei.devices.errors import DeviceCodecError
from renkei.devices.intellivue import IntelliVueDecoder, Numeric, encode_frame, encode_numerics, fcs16
from renkei.devices.serial_port import DeviceTransportError, SerialFrameReader
from renkei.devices.serial_protocols import (
    AndWeightDecoder,
    MasimoDecoder,
    Reading,
    StreamDecoder,
    decode_stream,
    encode_and_line,
    encode_masimo_line,
)

# a real Rad-8 line (published in yahnatan/pulseox README), then a line with no values and sensor off
MASIMO = (
    b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% SPMET=--.-% DESAT=-- "
    b"PIDELTA=+-- ALARM=0000 EXC=000800\r\n"
    b"\r\n"
    b"02/22/16 22:47:46 SN=0000056661 SPO2=---% BPM=--- PI=--.--% SPCO=--.-% SPMET=--.-% DESAT=-- "
    b"PIDELTA=+-- ALARM=0001 EXC=000821\r\n"
)
AND = b"ST,+00012.345  g\r\nUS,+00001.250 kg\r\nST,+00150.000 lb\r\nOL,+9999999E+19\r\n"
WHEN = datetime(2024, 5, 1, 7, 30)


def feed_in_chunks(decoder: StreamDecoder, data: bytes, cuts: list[int]) -> list[Reading]:
    out: list[Reading] = []
    last = 0
    for cut in [*cuts, len(data)]:
        out += decoder.feed(data[last:cut])
        last = cut
    return out + decoder.flush()


def summary(readings: list[Reading]) -> list[tuple]:
    return [
        (r.offset, [(o.code.code, o.value, o.unit, tuple(o.flags)) for o in r.observations], r.error) for r in readings
    ]


def test_masimo_lines() -> None:
    first, second = decode_stream(MasimoDecoder(), MASIMO)
    assert [(o.code.code, o.value, o.unit) for o in first.observations] == [
        ("19384", "98", "MDC_DIM_PERCENT"),
        ("18458", "97", "MDC_DIM_BEAT_PER_MIN"),
        ("19376", "3.60", "MDC_DIM_PERCENT"),
    ]
    assert first.observations[0].effective == datetime(2016, 2, 22, 22, 47, 45)
    assert first.observations[0].device_id == "masimo-0000056661" and first.observations[0].flags == []
    assert second.observations == []  # "---" means no value: nothing is invented
    assert second.fields["SPO2"] is None
    assert second.fields["exceptions"] == ["no-sensor", "sensor-off", "alarm:0001"]
    assert second.offset == len(MASIMO.split(b"\r\n")[0]) + 4


@pytest.mark.parametrize("step", [1, 2, 3, 7, 13])
def test_masimo_chunked_everywhere(step: int) -> None:
    whole = summary(decode_stream(MasimoDecoder(), MASIMO))
    assert summary(feed_in_chunks(MasimoDecoder(), MASIMO, list(range(step, len(MASIMO), step)))) == whole


def test_masimo_bad_lines_report_offset_and_continue() -> None:
    data = b"SPO2=9x7% BPM=072\r\nhello world\r\nSPO2=097% BPM=072\r\n"
    readings = MasimoDecoder().feed(data)
    assert readings[0].error is not None and readings[0].error.offset == 5
    assert "masimo: SPO2 is not a number: '9x7'" in readings[0].error.reason
    assert readings[1].error is not None and readings[1].error.offset == 19
    assert readings[2].observations[0].value == "97"
    with pytest.raises(DeviceCodecError, match="byte offset 5"):
        decode_stream(MasimoDecoder(), data)


def test_masimo_encoder_roundtrip() -> None:
    (r,) = decode_stream(MasimoDecoder(), encode_masimo_line(95, 61, pi="1.20", when=WHEN))
    assert [o.value for o in r.observations] == ["95", "61", "1.20"]
    assert r.observations[0].effective == WHEN


def test_and_lines() -> None:
    readings = decode_stream(AndWeightDecoder("scale-1"), AND)
    got = [(o.value, o.unit, o.normalized_value, o.flags) for r in readings for o in r.observations]
    assert got == [
        ("12.345", "MDC_DIM_X_G", 0.012345, []),
        ("1.250", "MDC_DIM_KILO_G", 1.25, ["unstable"]),
        ("150.000", "MDC_DIM_LB", pytest.approx(68.0388555), []),
    ]
    assert readings[3].fields == {"status": "overload"} and readings[3].observations == []
    assert encode_and_line("12.345", "g") == b"ST,+00012.345  g\r\n"


@pytest.mark.parametrize(
    ("line", "offset", "reason"),
    [
        (b"XX,+00012.345  g\r\n", 0, "unknown header 'XX'"),
        (b"ST;+00012.345  g\r\n", 2, "missing ','"),
        (b"ST,+00012.345 oz\r\n", 14, "unknown unit 'oz'"),
        (b"ST,+000\xff2.345  g\r\n", 7, "non-ASCII byte 0xFF"),
    ],
)
def test_and_errors(line: bytes, offset: int, reason: str) -> None:
    (r,) = AndWeightDecoder().feed(line)
    assert r.error is not None and r.error.offset == offset and reason in r.error.reason


def test_line_too_long_resyncs() -> None:
    d = AndWeightDecoder()
    out = d.feed(b"A" * 2000) + d.feed(b"B" * 10 + b"\nST,+00001.000 kg\n")
    assert out[0].error is not None and "longer than 1024" in out[0].error.reason
    assert out[1].observations[0].value == "1.000" and out[1].offset == 2011


def frame_with_escapes() -> bytes:
    # metric ids / values chosen so C0, C1 and 7D appear in the payload and must be escaped
    payload = encode_numerics(WHEN, [Numeric(0x7DC0, "36.5", 6048), Numeric(19384, 97, 544, state=0x4000)])
    frame = encode_frame(payload)
    assert b"\x7d\xe0" in frame and b"\x7d\x5d" in frame  # C0 and 7D escaped
    return frame


def test_intellivue_frame_and_fcs() -> None:
    assert fcs16(b"123456789") ^ 0xFFFF == 0x906E  # PPP FCS-16 check value
    frame = frame_with_escapes()
    (r,) = IntelliVueDecoder("mp30").feed(b"\x00noise" + frame)
    assert r.error is None and r.offset == 6
    assert [(o.code.code, o.value, o.unit, o.flags) for o in r.observations] == [
        (str(0x7DC0), "36.5", "MDC_DIM_DEGC", []),
        ("19384", "", "MDC_DIM_PERCENT", ["questionable"]),  # a questionable value is never a number
    ]
    assert r.observations[0].effective == WHEN and r.observations[0].device_id == "mp30"


@pytest.mark.parametrize("step", [1, 2, 5, 11])
def test_intellivue_chunked_everywhere(step: int) -> None:
    stream = frame_with_escapes() + b"\xff\xff" + frame_with_escapes()
    got = summary(feed_in_chunks(IntelliVueDecoder(), stream, list(range(step, len(stream), step))))
    assert got == summary(decode_stream(IntelliVueDecoder(), stream)) and len(got) == 2


def test_intellivue_errors() -> None:
    good = encode_frame(encode_numerics(WHEN, [Numeric(19384, 97, 544)]))
    bad_crc = good[:-2] + bytes([good[-2] ^ 0x01]) + good[-1:]
    (r,) = IntelliVueDecoder().feed(bad_crc)
    assert r.error is not None and "bad FCS" in r.error.reason and r.error.offset == len(good) - 3
    d = IntelliVueDecoder()
    out = d.feed(good[:10] + good)  # a frame cut short by a new C0, then a good frame
    assert out[0].error is not None and "not terminated by C1" in out[0].error.reason and out[0].error.offset == 10
    assert out[1].error is None and out[1].observations[0].value == "97"
    wrong_len = encode_frame(b"\x00" * 5)  # payload too short for a time stamp + list
    (r,) = IntelliVueDecoder().feed(wrong_len)
    assert r.error is not None and "truncated time stamp" in r.error.reason
    d = IntelliVueDecoder()
    d.feed(good[:-1])
    (tail,) = d.flush()
    assert tail.error is not None and "stream ended inside a frame" in tail.error.reason


def test_serial_loop_url() -> None:
    with SerialFrameReader("loop://", MasimoDecoder(), timeout=0.05) as reader:
        reader.write(MASIMO[:50])
        reader.write(MASIMO[50:])
        readings = list(reader.readings(idle_timeout=0.2))
    assert [len(r.observations) for r in readings] == [3, 0]


def test_serial_pty() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        with SerialFrameReader(os.ttyname(slave), IntelliVueDecoder(), baudrate=115200, timeout=0.05) as reader:
            frames = frame_with_escapes() * 3

            def device() -> None:  # the "monitor" writes in odd-sized bursts
                for i in range(0, len(frames), 17):
                    os.write(master, frames[i : i + 17])

            t = threading.Thread(target=device)
            t.start()
            readings = list(reader.readings(idle_timeout=0.3))
            t.join()
    finally:
        os.close(master)
        os.close(slave)
    assert [r.error for r in readings] == [None, None, None]
    assert [(r.observations[0].value, r.observations[1].flags) for r in readings] == [("36.5", ["questionable"])] * 3


def test_serial_socket_url_request_then_frames_then_disconnect() -> None:
    """pyserial's socket:// client against a loopback "monitor" that answers a poll with frames in odd bursts;
    when the monitor hangs up, the next read is a DeviceTransportError (the link), not a codec error."""
    frames = frame_with_escapes() * 3
    polls: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(5)
        port = server.getsockname()[1]

        def monitor() -> None:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(5)
                polls.append(conn.recv(64))  # send only after the poll: open() discards earlier input
                for i in range(0, len(frames), 17):
                    conn.sendall(frames[i : i + 17])
                    time.sleep(0.001)
                conn.recv(1)  # hold the line until the reader has read everything

        t = threading.Thread(target=monitor)
        t.start()
        readings: list[Reading] = []
        with SerialFrameReader(f"socket://127.0.0.1:{port}", IntelliVueDecoder(), timeout=0.05) as reader:
            reader.write(b"POLL\r\n")
            deadline = time.monotonic() + 5
            while len(readings) < 3 and time.monotonic() < deadline:
                readings += reader.read()
            assert reader.bytes_read == len(frames)
            reader.write(b"x")  # lets the monitor hang up
            t.join(5)
            with pytest.raises(DeviceTransportError, match="socket disconnected"):
                while time.monotonic() < deadline:
                    reader.read()
    assert polls == [b"POLL\r\n"]
    assert [r.error for r in readings] == [None, None, None]
    assert [r.offset for r in readings] == [0, len(frames) // 3, 2 * len(frames) // 3]
    assert [(r.observations[0].value, r.observations[1].flags) for r in readings] == [("36.5", ["questionable"])] * 3


def test_serial_bad_port_is_a_transport_error() -> None:
    with pytest.raises(DeviceTransportError, match="cannot open serial port"):
        SerialFrameReader("/dev/renkei-no-such-port", MasimoDecoder())

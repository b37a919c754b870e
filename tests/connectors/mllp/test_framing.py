"""MLLP framing codec: frames split at every awkward boundary, junk, oversize frames, end of stream."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renkei.connectors.mllp.framing import HEAD, FrameDecoder, FramingError, frame

MSGS = [b"MSH|^~\\&|A|B|||1||ADT^A08|1|P|2.5\rPID|1\r", b"MSH|x\r", "MSH|日本語\r".encode("iso2022_jp")]


def test_frames_round_trip_in_one_chunk() -> None:
    stream = b"".join(frame(m) for m in MSGS)
    assert FrameDecoder().feed(stream) == MSGS


def test_every_split_point_of_the_stream() -> None:
    stream = b"".join(frame(m) for m in MSGS)
    for cut in range(len(stream) + 1):
        d = FrameDecoder()
        got = d.feed(stream[:cut]) + d.feed(stream[cut:])
        assert got == MSGS, cut
        d.flush()


def test_byte_by_byte_and_fs_cr_split_across_chunks() -> None:
    d = FrameDecoder()
    got: list[bytes] = []
    for b in b"".join(frame(m) for m in MSGS):
        got += d.feed(bytes([b]))
    assert got == MSGS
    d = FrameDecoder()
    assert d.feed(b"\x0bMSH|a\x1c") == []  # FS without its CR: not the end yet
    with pytest.raises(FramingError) as info:
        d.feed(b"\rjunk")  # the CR ends the frame; what follows is junk
    assert info.value.frames == [b"MSH|a"]
    assert info.value.offset == len(b"\x0bMSH|a\x1c\r")


@given(st.lists(st.binary(min_size=0, max_size=40).map(lambda b: b.replace(b"\x0b", b"").replace(b"\x1c", b"")),
                min_size=1, max_size=5), st.lists(st.integers(1, 17), min_size=1, max_size=30))  # fmt: skip
def test_random_messages_random_chunking(msgs: list[bytes], sizes: list[int]) -> None:
    stream = b"\r\n".join(frame(m) for m in msgs)  # a newline between frames is tolerated
    d, got, pos, i = FrameDecoder(), [], 0, 0
    while pos < len(stream):
        n = sizes[i % len(sizes)]
        got += d.feed(stream[pos : pos + n])
        pos, i = pos + n, i + 1
    assert got == msgs
    d.flush()


def test_junk_between_frames_names_the_offset_and_keeps_good_frames() -> None:
    d = FrameDecoder()
    stream = frame(b"MSH|1") + b"GARBAGE" + frame(b"MSH|2")
    with pytest.raises(FramingError) as info:
        d.feed(stream)
    exc = info.value
    assert exc.frames == [b"MSH|1", b"MSH|2"]
    assert exc.offset == len(frame(b"MSH|1"))  # where the G is
    assert "7 byte(s) of junk" in str(exc) and f"at stream byte {exc.offset}" in str(exc)
    assert d.feed(frame(b"MSH|3")) == [b"MSH|3"]  # the decoder resynchronised


def test_offsets_count_from_the_stream_start_across_chunks() -> None:
    d = FrameDecoder()
    first = frame(b"MSH|1")
    d.feed(first)
    with pytest.raises(FramingError) as info:
        d.feed(b"\r\nX")
    assert info.value.offset == len(first) + 2


def test_frame_restarted_without_end() -> None:
    d = FrameDecoder()
    with pytest.raises(FramingError) as info:
        d.feed(b"\x0bMSH|lost" + frame(b"MSH|ok"))
    assert info.value.frames == [b"MSH|ok"]
    assert "never ended" in str(info.value) and info.value.offset == 0


def test_oversize_frame_is_dropped_with_its_head_and_the_stream_continues() -> None:
    big = b"MSH|^~\\&|HIS|SEND|||||ADT^A08|BIG1|P|2.5\r" + b"X" * 10_000
    for chunk in (len(big) + 10, 333):  # whole, and split so the frame's end comes chunks later
        d = FrameDecoder(max_size=2048)
        stream = frame(big) + frame(b"MSH|next")
        problems, frames = [], []
        for i in range(0, len(stream), chunk):
            try:
                frames += d.feed(stream[i : i + chunk])
            except FramingError as exc:
                frames += exc.frames
                problems += exc.problems
        assert frames == [b"MSH|next"]
        assert len(problems) == 1
        head = problems[0].head
        assert big.startswith(head) and 2048 <= len(head) <= HEAD and problems[0].offset == 0
        assert "max_size 2048" in problems[0].reason


def test_flush_reports_a_frame_cut_off() -> None:
    d = FrameDecoder()
    assert d.feed(b"\x0bMSH|half") == []
    with pytest.raises(FramingError, match="stream ended inside a frame"):
        d.flush()
    d.flush()  # nothing left
    assert d.feed(frame(b"MSH|1")) == [b"MSH|1"]

"""MLLP framing: `<VT> message <FS><CR>` (0x0B … 0x1C 0x0D), as an incremental codec.

    decoder = FrameDecoder(max_size=1 << 20)
    for chunk in socket_chunks:
        try:
            frames = decoder.feed(chunk)
        except FramingError as exc:        # junk between frames, or a frame over max_size
            frames = exc.frames            # the chunk's good frames are not lost
            log(exc)                       # names the byte offset in the stream (exc.problems: all)
        ...
    decoder.flush()                        # raises FramingError if the stream ended inside a frame

Between frames, CR/LF/space/tab are tolerated (senders that add a newline after FS CR); any other byte
is junk. After junk the decoder skips to the next VT; after an oversize frame it discards bytes up to
the frame's FS CR, keeping the first `HEAD` bytes so the listener can still name the message (its
MSH) in a rejecting ACK. Offsets are counted from the start of the stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from renkei.errors import InputError

VT, FS, CR = 0x0B, 0x1C, 0x0D
START, END = b"\x0b", b"\x1c\x0d"
HEAD = 4096  # bytes of an oversize frame kept for the error (enough for the MSH segment)
_BETWEEN = frozenset(b"\r\n \t")


def frame(message: bytes) -> bytes:
    """One message wrapped for the wire."""
    return START + message + END


@dataclass(slots=True, frozen=True)
class Problem:
    reason: str
    offset: int  # stream byte where it starts
    head: bytes = b""  # first bytes of an oversize frame (else empty)

    def __str__(self) -> str:
        return f"MLLP framing: {self.reason} at stream byte {self.offset}"


class FramingError(InputError):
    """Bytes that break MLLP framing. `problems` say where (stream offsets); `frames` holds every
    complete frame of the same `feed` call, in order, so nothing good is lost to one bad stretch."""

    def __init__(self, problems: list[Problem], frames: list[bytes]) -> None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")
        self.problems = problems
        self.frames = frames

    @property
    def offset(self) -> int:
        return self.problems[0].offset


class FrameDecoder:
    """Incremental MLLP decoder: `feed(bytes) -> list[bytes]` (complete frames, unwrapped), `flush()`."""

    __slots__ = ("_buf", "_consumed", "_dropping", "_in_frame", "_scanned", "max_size")

    def __init__(self, max_size: int = 1 << 20) -> None:
        self.max_size = max_size
        self._buf = bytearray()  # unconsumed bytes; while in a frame, starts with that frame's VT
        self._consumed = 0  # stream offset of _buf[0]
        self._in_frame = False
        self._dropping = False  # inside an oversize frame: discard up to its FS CR
        self._scanned = 0  # bytes of the buffered partial frame already searched (no rescans)

    def feed(self, data: bytes) -> list[bytes]:
        """Complete frames in `data` (plus what was buffered); raises FramingError after the whole chunk
        is processed if any of it broke the framing (the good frames are on the error)."""
        buf = self._buf
        if data:
            buf += data
        frames: list[bytes] = []
        problems: list[Problem] = []
        pos, n = 0, len(buf)
        while pos < n:
            if self._dropping:
                end = buf.find(END, pos)
                if end < 0:
                    pos = n - 1 if buf[-1] == FS else n  # the FS may be this chunk's last byte
                    break
                self._dropping = False
                pos = end + 2
                continue
            if not self._in_frame:
                b = buf[pos]
                if b == VT:
                    self._in_frame = True
                elif b in _BETWEEN:
                    pos += 1
                else:
                    nxt = buf.find(START, pos)
                    stop = nxt if nxt >= 0 else n  # resynchronise at the next VT
                    problems.append(
                        Problem(
                            f"{stop - pos} byte(s) of junk between frames (first 0x{b:02x}, expected VT 0x0b)",
                            self._consumed + pos,
                        )
                    )
                    pos = stop
                continue
            # in a frame: buf[pos] is its VT
            from_ = max(pos + 1, self._scanned)
            self._scanned = 0
            end = buf.find(END, from_)
            body_end = end if end >= 0 else n
            restart = buf.find(START, from_, body_end)
            if restart >= 0:
                problems.append(Problem("frame never ended (a new VT came first)", self._consumed + pos))
                pos = restart
                continue
            if body_end - pos - 1 > self.max_size:
                head = bytes(buf[pos + 1 : pos + 1 + HEAD])
                problems.append(
                    Problem(f"frame longer than max_size {self.max_size} bytes", self._consumed + pos, head)
                )
                self._in_frame = False
                if end < 0:
                    self._dropping = True
                    pos = n - 1 if buf[-1] == FS else n
                    break
                pos = end + 2
                continue
            if end < 0:
                self._scanned = n - 1 - pos  # relative to the frame start, which becomes buf[0]
                break  # wait for more bytes
            frames.append(bytes(buf[pos + 1 : end]))
            self._in_frame = False
            pos = end + 2
        if pos:
            del buf[:pos]
            self._consumed += pos
        if problems:
            raise FramingError(problems, frames)
        return frames

    def flush(self) -> None:
        """End of stream: an unfinished frame is an error (the sender died mid-message)."""
        buf, offset = self._buf, self._consumed
        self._consumed += len(buf)
        unfinished = self._in_frame and len(buf) > 0
        size = len(buf) - 1
        buf.clear()
        self._in_frame = self._dropping = False
        self._scanned = 0
        if unfinished:
            raise FramingError([Problem(f"stream ended inside a frame ({size} bytes, no FS CR)", offset)], [])

    @property
    def offset(self) -> int:
        """Stream offset of the first byte not yet consumed."""
        return self._consumed

    @property
    def in_frame(self) -> bool:
        """True while a frame has begun and not yet ended (bytes buffered, or an oversize one being skipped)."""
        return self._in_frame or self._dropping

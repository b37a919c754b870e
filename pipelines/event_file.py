"""The tap events file: append-only JSON lines with size-based rotation, and a reader that follows rotation.

`tap-events.jsonl` in the data folder holds every published tap outcome (patient names and values: it is
data, like the store, never a log). It would grow without end, so when appending a line would take it past
`max_bytes` it is renamed `tap-events.jsonl.1` (older ones shift to .2 … .`keep`, the oldest dropped) and a
new file starts. One process writes it (`renkei run`'s EventBus); pages in other processes read it.

A reader's position is (file identity, byte offset): the inode of the file it was reading and how far.
When the live file's inode is no longer the one being read, the reader finishes that file under its
rotated name (found by inode), then each newer rotated file, then the live one from its start, so no event is
skipped or sent twice across rotations. Positions travel as text "INODE:OFFSET" (the tap station's SSE ids); a bare
offset (before rotation existed) means the live file. A reader more than `keep` rotations behind (its file
dropped) starts again at the start of the live file; should the file system have given the dropped file's
inode to the live one, such a reader resumes at its old offset there. That is a page showing taps, never
the record of them (the store is).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAX_BYTES = 8 << 20  # ~20,000 tap events at ~400 bytes
KEEP = 3
READ_CHUNK = 1 << 20


@dataclass(slots=True, frozen=True)
class Position:
    inode: int  # 0: the live file, whichever it is
    offset: int

    def __str__(self) -> str:
        return f"{self.inode}:{self.offset}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """ "INODE:OFFSET" or a bare offset; anything else is the start of the live file."""
        inode, _, offset = text.rpartition(":")
        if not offset.isdigit() or (inode and not inode.isdigit()):
            return cls(0, 0)
        return cls(int(inode or 0), int(offset))


def rotated(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}")


class RotatingLines:
    """Appends lines to `path`, rotating by size. Not thread-safe: the caller holds its lock."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_BYTES, keep: int = KEEP) -> None:
        self.path, self.max_bytes, self.keep = path, max_bytes, max(1, keep)

    def append(self, line: str) -> None:
        data = (line + "\n").encode("utf-8")
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(data) > self.max_bytes:
            self.rotate()
        with self.path.open("ab") as f:
            f.write(data)

    def rotate(self) -> None:
        for n in range(self.keep - 1, 0, -1):  # .2 -> .3, .1 -> .2: the oldest is replaced (dropped)
            if rotated(self.path, n).exists():
                os.replace(rotated(self.path, n), rotated(self.path, n + 1))
        os.replace(self.path, rotated(self.path, 1))


def end_position(path: Path) -> Position:
    """Where a reader starts to see only what is appended from now on."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return Position(0, 0)
    return Position(st.st_ino, st.st_size)


def read_new(path: Path, position: Position, keep: int = KEEP) -> tuple[list[tuple[str, Position]], Position]:
    """Complete lines after `position`, each with the position after it, and the new position.

    A line still being written waits for the next call; a file rotated since the last call is finished
    first (under its rotated name), then the live file is read from its start."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return [], position
    with f:
        live = os.fstat(f.fileno())  # the file actually opened: a rotation right now cannot mislead us
        if position.inode in (0, live.st_ino):
            offset = position.offset if position.offset <= live.st_size else 0  # replaced in place: from the start
            return _read(f, Position(live.st_ino, offset))
        found = next((n for n in range(1, keep + 1) if _inode(rotated(path, n)) == position.inode), 0)
        for n in range(found, 0, -1):  # the file being read, then each newer rotated one (.2 is older than .1)
            try:
                older = rotated(path, n).open("rb")
            except FileNotFoundError:
                continue
            with older:
                st = os.fstat(older.fileno())
                lines, after = _read(older, position if st.st_ino == position.inode else Position(st.st_ino, 0))
                if lines:
                    return lines, after
        return _read(f, Position(live.st_ino, 0))  # every rotated one finished (or gone): the live file


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return -1


def _read(f: BinaryIO, position: Position) -> tuple[list[tuple[str, Position]], Position]:
    f.seek(position.offset)
    chunk = f.read(READ_CHUNK)  # a reader far behind catches up a chunk at a time
    offset = position.offset
    out = []
    for raw in chunk.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            break
        offset += len(raw)
        out.append((raw.decode("utf-8", errors="replace"), Position(position.inode, offset)))
    return out, Position(position.inode, offset)

"""Connection limits of the MLLP listener: per peer, global, and which connection gives way.

A sender that trickles bytes must not be able to hold the listener: each connection is either idle
(between messages), inside a message (since its first byte), or storing (waiting for the store before
its ACK). When the global cap is reached a new connection is admitted by closing another: first one idle
for at least `shed_after` seconds (the longest idle), else the one whose message in progress began
longest ago — a real sender's message takes milliseconds, a trickler's never ends, so tricklers
reconnecting only push each other out. A connection whose message is being stored is never closed, and
one that just connected or just got its ACK has `shed_after` seconds to send. Per-peer limits keep one
address from taking every slot in the first place.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

log = logging.getLogger("renkei.mllp")

NOTE_EVERY = 60.0  # seconds: at most one refusal/shed line per peer and kind, with a count of the rest


@dataclass(slots=True, eq=False)
class Connection:
    host: str
    task: asyncio.Task[None]
    mark: float  # connect time, last completed message, or the current message's first byte
    in_message: bool = False
    storing: int = 0  # messages received on it whose ACK is not written yet
    shed: bool = False


@dataclass(slots=True)
class ConnectionTable:
    name: str
    max_connections: int
    max_per_peer: int
    shed_after: float
    open: set[Connection] = field(default_factory=set)
    per_peer: dict[str, int] = field(default_factory=dict)
    _noted: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)

    def admit(self, host: str, task: asyncio.Task[None], now: float) -> Connection | None:
        """The new connection's entry, or None (it must be closed unanswered)."""
        if self.per_peer.get(host, 0) >= self.max_per_peer:
            self.note(host, "refused", f"{self.max_per_peer} connections from this address are open", now)
            return None
        if len(self.open) - sum(c.shed for c in self.open) >= self.max_connections and not self._shed_one(now):
            self.note(host, "refused", f"{self.max_connections} connections are open and none is idle", now)
            return None
        conn = Connection(host, task, now)
        self.open.add(conn)
        self.per_peer[host] = self.per_peer.get(host, 0) + 1
        return conn

    def release(self, conn: Connection) -> None:
        if conn in self.open:
            self.open.discard(conn)
            left = self.per_peer[conn.host] - 1
            if left:
                self.per_peer[conn.host] = left
            else:
                del self.per_peer[conn.host]

    def _shed_one(self, now: float) -> bool:
        candidates = [c for c in self.open if not c.shed and c.storing == 0]
        idle = [c for c in candidates if not c.in_message and now - c.mark >= self.shed_after]
        busy = [c for c in candidates if c.in_message]
        if not idle and not busy:
            return False
        victim = min(idle or busy, key=lambda c: c.mark)  # longest idle, else the oldest message in progress
        victim.shed = True
        victim.task.cancel()
        state = "a message in progress" if victim.in_message else "idle"
        self.note(victim.host, "shed", f"closed ({state} for {now - victim.mark:.0f} s) to admit a new one", now)
        return True

    def note(self, host: str, kind: str, text: str, now: float) -> None:
        """One log line per peer and kind per NOTE_EVERY seconds, saying how many were not logged."""
        last, quiet = self._noted.get((host, kind), (-NOTE_EVERY, 0))
        if now - last < NOTE_EVERY:
            self._noted[(host, kind)] = (last, quiet + 1)
            return
        if len(self._noted) > 4096:  # many addresses: forget the oldest bookkeeping rather than grow
            self._noted.clear()
        more = f" ({quiet} more like this in the last {NOTE_EVERY:.0f} s)" if quiet else ""
        log.warning("MLLP %s: connection from %s %s: %s%s", self.name, host, kind, text, more)
        self._noted[(host, kind)] = (now, 0)

"""What a run did (counts per outcome), how it reports progress, and how an unexpected failure is named."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(slots=True)
class RunStats:
    received: int = 0
    quarantined: int = 0
    filtered: int = 0
    queued: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    unchanged: int = 0
    seconds: float = 0.0

    def add(self, other: RunStats) -> None:
        for name in ("received", "quarantined", "filtered", "queued", "sent", "failed", "dead", "unchanged"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


Progress = Callable[[str, int], None]  # (phase, count just done)


def where_failed(exc: BaseException) -> str:
    """The exception's type and the file:line it came from: no message, which may quote patient data."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    place = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    return f"{type(exc).__name__}{place}"

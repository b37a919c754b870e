"""One log line when a destination starts failing and one when it recovers, nothing in between.

Each failed delivery is recorded on its row (state, attempts, last error, next attempt); the log only tells
the operator that an outage began and ended, so a homeserver that is down for an hour writes two lines,
not one per delivery per round. Lines name the destination, the error type and where it was raised, never
a payload or a patient.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from pathlib import Path

from renkei.errors import RenkeiError

log = logging.getLogger("renkei.engine")


@dataclass(slots=True)
class _Outage:
    since: float
    failures: int


class OutageLog:
    def __init__(self) -> None:
        self._open: dict[str, _Outage] = {}

    def failing(self, destination: str) -> bool:
        return destination in self._open

    def observe(self, destination: str, failures: list[str], sent: int, now: float) -> None:
        """One delivery round's result for a destination: the recorded errors of its failed deliveries
        (refusals left out: they are decisions, not failures) and how many were sent."""
        outage = self._open.get(destination)
        if failures:
            if outage is None:
                self._open[destination] = _Outage(now, len(failures))
                log.warning(
                    "destination %s is failing (%s); %d deliveries will retry with backoff, recorded on each "
                    "(renkei messages list --state ERROR); next line when it recovers",
                    destination, failures[0].removeprefix("retries exhausted: ").split(":", 1)[0], len(failures),
                )  # fmt: skip
            else:
                outage.failures += len(failures)
        elif sent and outage is not None:
            del self._open[destination]
            log.info(
                "destination %s recovered after %d failed attempts over %.0f s",
                destination, outage.failures, now - outage.since,
            )  # fmt: skip


def describe(exc: BaseException) -> str:
    """The error's type, and for an unexpected one (a bug, not a renkei error) where it was raised."""
    if isinstance(exc, RenkeiError):
        return type(exc).__name__
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    place = f" ({Path(frame.filename).name} line {frame.lineno})" if frame else ""
    return f"unexpected {type(exc).__name__}{place}"

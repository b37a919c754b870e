"""Retry policy for durable deliveries, built from tenacity's own wait and stop strategies.

The engine does not sleep in a retry loop: a failed delivery is stored with its next attempt time, so a
restart keeps the schedule. tenacity still decides the numbers (exponential backoff with jitter; give up
after N attempts or once the first attempt is older than the age limit), through a RetryCallState
rebuilt from the stored attempt count and first-attempt time.
"""

from __future__ import annotations

from dataclasses import dataclass

import tenacity

from renkei.config.schema import RetrySettings


@dataclass(slots=True, frozen=True)
class RetryDecision:
    give_up: bool
    delay: float = 0.0


class RetryPolicy:
    def __init__(self, settings: RetrySettings | None = None) -> None:
        s = settings or RetrySettings()
        self.settings = s
        self._wait = tenacity.wait_exponential_jitter(
            multiplier=s.initial_backoff_seconds, max=s.max_backoff_seconds, jitter=s.jitter_seconds
        )
        self._stop = tenacity.stop_after_attempt(s.max_attempts) | tenacity.stop_after_delay(s.max_age_seconds)

    def after_failure(self, attempts: int, first_attempt_at: float, now: float) -> RetryDecision:
        """`attempts` counts the one that just failed."""
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempts
        state.start_time = first_attempt_at
        state.outcome_timestamp = now
        if self._stop(state):
            return RetryDecision(give_up=True)
        return RetryDecision(give_up=False, delay=float(self._wait(state)))

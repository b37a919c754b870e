"""Retry policy for durable deliveries, built from tenacity's own wait and stop strategies.

The engine does not sleep in a retry loop: a failed delivery is stored with its next attempt time, so a
restart keeps the schedule. tenacity still decides the numbers (capped exponential backoff with jitter;
give up once the first attempt is older than the age limit, and after N attempts only if a cap is set),
through a RetryCallState rebuilt from the stored attempt count and first-attempt time.

Retrying by age, not by count, is what keeps a long outage lossless: with the default cap of 300 s
between attempts, a day-long outage costs each waiting delivery about 300 attempts, not its data.
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
        stop: tenacity.stop.stop_base = tenacity.stop_after_delay(s.max_age_seconds)
        if s.max_attempts is not None:
            stop = stop | tenacity.stop_after_attempt(s.max_attempts)
        self._stop = stop

    def after_failure(self, attempts: int, first_attempt_at: float, now: float) -> RetryDecision:
        """`attempts` counts the one that just failed."""
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempts
        state.start_time = first_attempt_at
        state.outcome_timestamp = now
        if self._stop(state):
            return RetryDecision(give_up=True)
        return RetryDecision(give_up=False, delay=float(self._wait(state)))

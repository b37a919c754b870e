"""Retry policy: exponential backoff with jitter, capped; give up by attempts or by age."""

from __future__ import annotations

from renkei.config.schema import RetrySettings
from renkei.pipelines.retry import RetryPolicy


def test_backoff_doubles_within_jitter_and_is_capped() -> None:
    policy = RetryPolicy(
        RetrySettings(max_attempts=20, initial_backoff_seconds=1, max_backoff_seconds=30, jitter_seconds=0.5)
    )
    delays = [policy.after_failure(n, first_attempt_at=0, now=1).delay for n in range(1, 8)]
    for n, delay in enumerate(delays, start=1):
        base = min(2 ** (n - 1), 30)
        assert base <= delay <= min(base + 0.5, 30), (n, delay)
    assert delays[-1] == 30  # 64 s would exceed the cap


def test_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(RetrySettings(max_attempts=3))
    assert not policy.after_failure(2, first_attempt_at=0, now=10).give_up
    assert policy.after_failure(3, first_attempt_at=0, now=10).give_up


def test_gives_up_once_the_first_attempt_is_too_old() -> None:
    policy = RetryPolicy(RetrySettings(max_attempts=100, max_age_seconds=3600))
    assert not policy.after_failure(2, first_attempt_at=1000, now=1000 + 3599).give_up
    assert policy.after_failure(2, first_attempt_at=1000, now=1000 + 3600).give_up


def test_by_default_only_age_gives_up_not_the_attempt_count() -> None:
    """A day-long outage: hundreds of attempts, none of them the last until the first is 24 h old."""
    policy = RetryPolicy()
    assert policy.settings.max_attempts is None
    late = policy.after_failure(500, first_attempt_at=0, now=23 * 3600)
    assert not late.give_up
    assert 300 <= late.delay <= 301  # the 300 s cap plus at most 1 s of jitter
    assert policy.after_failure(501, first_attempt_at=0, now=24 * 3600).give_up


def test_an_outage_of_ten_minutes_never_exhausts_the_default_policy() -> None:
    """Replays the schedule a delivery sees through a 600 s outage: every failure gets a next time."""
    policy, now, attempts = RetryPolicy(), 0.0, 0
    while now < 600:
        attempts += 1
        decision = policy.after_failure(attempts, first_attempt_at=0, now=now)
        assert not decision.give_up
        now += decision.delay
    assert 8 < attempts < 20  # more than the old cap of 8, far fewer than one a second

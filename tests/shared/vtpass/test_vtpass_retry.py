"""Retry and requery timing rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.vtpass import (
    Outcome,
    OutcomeKind,
    backoff_seconds,
    requery_delay,
    should_retry_pay,
)


@pytest.mark.parametrize("kind", list(OutcomeKind))
def test_only_not_sent_pays_are_retried(kind):
    assert should_retry_pay(Outcome(kind=kind)) is (kind is OutcomeKind.NOT_SENT)


@pytest.mark.parametrize(
    ("attempt", "window"), [(0, 1.0), (1, 2.0), (2, 4.0), (5, 32.0), (6, 60.0)]
)
def test_backoff_window_doubles_up_to_the_cap(attempt, window):
    assert backoff_seconds(attempt, rng=lambda: 0.999999) == pytest.approx(window * 0.999999)


def test_backoff_is_capped_for_huge_attempts():
    assert backoff_seconds(10_000, rng=lambda: 1.0) == 60.0


def test_backoff_has_full_jitter_down_to_zero():
    assert backoff_seconds(4, rng=lambda: 0.0) == 0.0


def test_backoff_respects_base_and_cap():
    assert backoff_seconds(3, base=0.5, cap=3.0, rng=lambda: 1.0) == 3.0
    assert backoff_seconds(2, base=0.5, cap=3.0, rng=lambda: 1.0) == 2.0


def test_backoff_stays_within_bounds_with_real_randomness():
    for attempt in range(12):
        delays = [backoff_seconds(attempt) for _ in range(200)]
        assert all(0.0 <= d <= min(60.0, 2.0**attempt) for d in delays)


def test_negative_attempt_is_refused():
    with pytest.raises(ValueError):
        backoff_seconds(-1)
    with pytest.raises(ValueError):
        requery_delay(-1)


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [
        (0, timedelta(seconds=10)),
        (1, timedelta(seconds=30)),
        (2, timedelta(minutes=1)),
        (3, timedelta(minutes=2)),
        (4, timedelta(minutes=5)),
        (5, timedelta(minutes=10)),
        (6, timedelta(minutes=10)),
        (500, timedelta(minutes=10)),
    ],
)
def test_requery_schedule(attempt, delay):
    assert requery_delay(attempt) == delay

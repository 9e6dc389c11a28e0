"""Retry and requery timing as small pure functions a test can call directly."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import timedelta

from shared.vtpass.outcome import Outcome, OutcomeKind

__all__ = [
    "REQUERY_DEADLINE",
    "REQUERY_SCHEDULE",
    "backoff_seconds",
    "requery_delay",
    "should_retry_pay",
]

# Delays before requery number 0, 1, 2, ...; the last one repeats forever.
REQUERY_SCHEDULE = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=1),
    timedelta(minutes=2),
    timedelta(minutes=5),
    timedelta(minutes=10),
)
# Past this a pending purchase goes to review and an operator decides.
REQUERY_DEADLINE = timedelta(hours=24)

# 2**60 seconds is far beyond any cap; clamping keeps huge attempts from overflowing.
_MAX_EXPONENT = 60


def should_retry_pay(outcome: Outcome) -> bool:
    """Return True only if the pay request provably never reached VTPass."""
    # Anything else may have charged the merchant: a second pay could buy twice.
    return outcome.kind is OutcomeKind.NOT_SENT


def backoff_seconds(
    attempt: int,
    *,
    base: float = 1.0,
    cap: float = 60.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Return a full-jitter exponential delay for retry number ``attempt`` (0-based)."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    # Full jitter spreads workers that failed together across the whole window.
    window = min(cap, math.ldexp(base, min(attempt, _MAX_EXPONENT)))
    return rng() * window


def requery_delay(attempt: int) -> timedelta:
    """Return how long to wait before requery number ``attempt`` (0-based)."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    return REQUERY_SCHEDULE[min(attempt, len(REQUERY_SCHEDULE) - 1)]

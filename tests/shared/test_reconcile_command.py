"""`python -m shared.reconcile`: how it reads its window, and what it refuses."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from shared.reconcile.__main__ import main, parse_when

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("24h", NOW - timedelta(hours=24)),
        ("90m", NOW - timedelta(minutes=90)),
        ("7d", NOW - timedelta(days=7)),
        ("30s", NOW - timedelta(seconds=30)),
        ("2026-12-01T00:00Z", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12-01T00:00", datetime(2026, 12, 1, tzinfo=UTC)),  # naive means UTC
        ("2026-12-01T01:00+01:00", datetime(2026, 12, 1, tzinfo=UTC)),  # Lagos time
    ],
)
def test_durations_and_iso_times(given, expected):
    assert parse_when(given, now=NOW) == expected


@pytest.mark.parametrize("given", ["yesterday", "24", "h", "-5h", "24 hours", ""])
def test_anything_else_is_refused(given):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_when(given, now=NOW)


@pytest.mark.parametrize(
    "argv",
    [
        [],  # neither --since nor --resume
        ["--since", "24h", "--resume"],
        ["--since", "2026-12-02T00:00Z", "--until", "2026-12-01T00:00Z"],
        ["--since", "1h", "--rate", "0"],
    ],
)
def test_bad_arguments_exit_2_before_touching_anything(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2

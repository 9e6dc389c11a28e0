"""Reconcile PayLink with VTPass from the command line.

    python -m shared.reconcile --since 24h
    python -m shared.reconcile --since 2026-12-01T00:00Z --until 2026-12-02T00:00Z
    python -m shared.reconcile --resume

`--since` is a duration back from now (`90m`, `24h`, `7d`) or an ISO 8601 time (UTC unless
it names an offset). A run that a killed process left unfinished is resumed first (`--resume`
does only that). `--recheck-days N` also asks again about purchases still delivered that
became final in the N days before `--since`, and those earlier runs could not conclude (the
beat does so with PAYLINK_RECONCILE_RECHECK_DAYS). Exit status: 0 every purchase agrees,
1 disagreements were found (see the report), 2 bad arguments, 3 another reconciliation is
running now, 4 the run could not tell (its answers were mostly inconclusive: VTPass down, or
refusing PayLink's keys). Configured like the worker
(DATABASE_URL, VTPASS_*; PAYLINK_RECONCILE_REQUESTS_PER_S bounds the requery rate).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from shared.config import load_settings
from shared.db import utcnow
from shared.logs import configure_logging
from shared.reconcile.run import INCONCLUSIVE, Pacer, RunInProgress, reconcile
from shared.runtime import Runtime

_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_when(value: str, *, now: datetime) -> datetime:
    """Read `24h`-style durations back from `now`, or an ISO 8601 time (naive means UTC)."""
    if match := _DURATION.match(value.strip()):
        return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither a duration (24h, 90m, 7d) nor an ISO 8601 time"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one reconciliation and print its summary; the exit status says what it found."""
    now = utcnow()
    parser = argparse.ArgumentParser(prog="python -m shared.reconcile", description=__doc__)
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--since", type=lambda v: parse_when(v, now=now))
    start.add_argument(
        "--resume", action="store_true", help="only finish a run a killed process left"
    )
    parser.add_argument("--until", type=lambda v: parse_when(v, now=now), default=now)
    parser.add_argument(
        "--rate", type=float, help="requeries per second (default PAYLINK_RECONCILE_REQUESTS_PER_S)"
    )
    parser.add_argument(
        "--recheck-days",
        type=float,
        default=0.0,
        help="also ask again about purchases delivered this many days before --since",
    )
    parser.add_argument(
        "--max-purchases", type=int, help="stop after this many (the run resumes next time)"
    )
    args = parser.parse_args(argv)
    if args.since is not None and args.since >= args.until:
        parser.error("--since must be before --until")
    if not 0 <= args.recheck_days <= 90:
        parser.error("--recheck-days must be 0 to 90")
    if args.rate is not None and not args.rate > 0:
        parser.error("--rate must be above 0")
    settings = load_settings()
    settings.validate()
    configure_logging(settings)
    rt = Runtime(settings)
    try:
        summaries = reconcile(
            rt.db,
            rt.vtpass,
            since=args.since,
            until=args.until,
            started_by="cli",
            timing=rt.timing,
            pacer=Pacer(args.rate or settings.reconcile_requests_per_s),
            limit=args.max_purchases,
            recheck=timedelta(days=args.recheck_days),
        )
    except RunInProgress as exc:
        print(f"not started: {exc}", file=sys.stderr)
        return 3
    finally:
        rt.close()
    if not summaries:
        print("no unfinished reconciliation run to resume")
    for s in summaries:
        print(
            f"{s.id} {s.status}{' (resumed)' if s.resumed else ''}: "
            f"{s.window_start.isoformat()} .. {s.window_end.isoformat()}: {s.checked} checked, "
            f"{s.agreed} agree, {s.disagreements} disagree ({s.refunded} refunded), "
            f"{s.inconclusive} inconclusive; report: GET /api/v1/admin/reconciliations/{s.id}"
        )
    if any(s.disagreements for s in summaries):
        return 1
    return 4 if any(s.status == INCONCLUSIVE for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(main())

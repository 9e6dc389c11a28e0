"""Run a reconciliation: requery every purchase that became final in a window, once each.

- One run at a time: a run works while holding a PostgreSQL advisory lock (released when its
  connection ends, so a killed process frees it at once), and the partial unique index on
  `reconciliation_runs` allows one `running` row. A second caller gets `RunInProgress`.
- Resumable: each purchase is checked in its own transaction, which writes its finding, the
  run's counts and the run's cursor together. A killed run is resumed from its cursor by the
  next call; a purchase whose answer arrived but was not yet recorded is asked again (requery
  is read-only and safe to repeat), and no purchase is recorded twice.
- Rate-limited: `Pacer` spaces the requeries at most `per_second` apart.
- The purchases are taken in `(completed_at, id)` order: those final with `window_start <=
  completed_at < window_end`, and with `recheck_since` also those still delivered since then
  (VTPass may reverse a purchase days later) and those an earlier run left inconclusive; the
  window is fixed when the run starts.
- A run ends `completed`, or `inconclusive` when half or more of its answers were: it could
  not tell, and does not count as a reconciliation that happened.
- Only a 2xx answer settles anything: a 4xx/5xx whose body looks failed is inconclusive.
- Every answer goes through `execution.apply_outcome`, the path a requery answer takes: it
  audits the exchange, and a delivered purchase that VTPass shows reversed or failed is
  reversed through the state machine (the ledger refunds it once). Nothing else moves money.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from sqlalchemy import and_, or_, select, text, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from shared import audit
from shared.audit import storable
from shared.callbacks import followups
from shared.db import Database, utcnow
from shared.models import Purchase, ReconciliationFinding, ReconciliationRun
from shared.purchases import execution
from shared.purchases.execution import Timing
from shared.purchases.states import FINAL
from shared.purchases.states import PurchaseStatus as S
from shared.reconcile.compare import Comparison, Finding, compare
from shared.vtpass import Outcome, OutcomeKind

log = logging.getLogger(__name__)

# pg_try_advisory_lock key of the reconciliation ("PLRECON" in ASCII, well inside bigint).
LOCK_KEY = 0x504C5245434F4E
BATCH = 200
# The beat's window reaches back to the end of the last run, minus this, at most MAX_CATCH_UP.
OVERLAP = timedelta(hours=1)
MAX_CATCH_UP = timedelta(days=7)
# How a run ends: it checked what it had to, or its answers were mostly inconclusive.
COMPLETED, INCONCLUSIVE = "completed", "inconclusive"
# `started_by` of the beat's daily runs, whose windows are contiguous.
BEAT = "beat"


# The largest amount a NUMERIC(18, 2) column holds; a larger figure from VTPass is not stored.
_MAX_AMOUNT = Decimal("9999999999999999.99")


class Requerier(Protocol):
    """What a reconciliation needs of the VTPass client."""

    def requery(self, request_id: str) -> Outcome: ...


class RunInProgress(RuntimeError):
    """Another process is running a reconciliation now; never two at once."""


@dataclass
class Pacer:
    """Space calls at least 1/per_second apart (the reconciliation's VTPass rate limit)."""

    per_second: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next: float | None = field(default=None, init=False)

    def wait(self) -> None:
        """Return when the next call may go (at once for the first)."""
        now = self.clock()
        if self._next is not None and now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + 1.0 / self.per_second


@dataclass(frozen=True)
class RunSummary:
    """Where a run stands after this call worked on it."""

    id: str
    status: str
    window_start: datetime
    window_end: datetime
    checked: int
    agreed: int
    disagreements: int
    inconclusive: int
    refunded: int
    resumed: bool

    @staticmethod
    def of(run: ReconciliationRun, *, resumed: bool) -> RunSummary:
        return RunSummary(
            id=run.id,
            status=run.status,
            window_start=run.window_start,
            window_end=run.window_end,
            checked=run.checked,
            agreed=run.agreed,
            disagreements=run.disagreements,
            inconclusive=run.inconclusive,
            refunded=run.refunded,
            resumed=resumed,
        )


@dataclass
class _Budget:
    """How many more purchases this call may check, and until when (None: no limit)."""

    left: int | None
    stop_at: float | None = None  # time.monotonic()

    def take(self) -> bool:
        if self.stop_at is not None and time.monotonic() >= self.stop_at:
            return False
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


@contextmanager
def exclusive(db: Database) -> Iterator[None]:
    """Hold the reconciliation lock for the block, or raise RunInProgress at once."""
    with db.engine.connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar()
        # The lock belongs to the connection, not the transaction: end the transaction so the
        # connection does not sit idle in one for the whole run.
        conn.commit()
        if not got:
            raise RunInProgress("another reconciliation is running")
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                conn.commit()
            except Exception:  # noqa: BLE001 - a broken connection: the lock dies with it
                conn.invalidate()


def reconcile(
    db: Database,
    vtpass: Requerier,
    *,
    since: datetime | None,
    until: datetime | None = None,
    started_by: str,
    timing: Timing,
    pacer: Pacer,
    limit: int | None = None,
    time_limit_s: float | None = None,
    recheck: timedelta = timedelta(0),
) -> list[RunSummary]:
    """Finish any run a killed process left, then (with `since`) run the window asked for.

    `limit` (purchases) and `time_limit_s` stop this call early: the run stays `running`, to
    be resumed. With `recheck`, the new run also asks again about every purchase still
    delivered that became final in the `recheck` before its window, and about every purchase
    a run since then could not conclude. Raises RunInProgress when another process is
    reconciling.
    """
    summaries: list[RunSummary] = []
    budget = _Budget(limit, None if time_limit_s is None else time.monotonic() + time_limit_s)
    with exclusive(db):
        left = unfinished_run(db)
        if left is not None:
            log.warning("resuming reconciliation run %s, which did not finish", left)
            summaries.append(_work(db, vtpass, left, timing, pacer, budget, resumed=True))
            if summaries[-1].status == "running":
                return summaries
        if since is not None:
            run_id = _start(
                db, since=since, until=until or utcnow(), started_by=started_by, recheck=recheck
            )
            summaries.append(_work(db, vtpass, run_id, timing, pacer, budget, resumed=False))
    return summaries


def next_window_start(db: Database, *, now: datetime, hours: float) -> datetime:
    """Where the beat's next run starts: `hours` back, or further, to where the beat's last
    run ended (the watermark of the beat's contiguous coverage).

    Only the beat's own runs count: each starts where the previous one ended, so together
    they cover time without a gap. A manual run (`--since 1h`) covers only its own window and
    never moves the watermark: a day whose beat run never started (the beat was down, a long
    run held the lock) is covered by the next one whatever ran meanwhile. An hour of overlap
    covers purchases that committed a moment after their completion time; at most
    `MAX_CATCH_UP` back.
    """
    with db.transaction() as session:
        last_end = (
            session.execute(
                select(ReconciliationRun.window_end)
                .where(ReconciliationRun.started_by == BEAT)
                .order_by(ReconciliationRun.window_end.desc())
            )
            .scalars()
            .first()
        )
    since = now - timedelta(hours=hours)
    if last_end is not None:
        since = min(since, last_end - OVERLAP)
    return max(since, now - MAX_CATCH_UP)


def unfinished_run(db: Database) -> str | None:
    """Return the id of the run still marked running, if any."""
    with db.transaction() as session:
        return session.execute(
            select(ReconciliationRun.id).where(ReconciliationRun.status == "running")
        ).scalar_one_or_none()


def _start(
    db: Database, *, since: datetime, until: datetime, started_by: str, recheck: timedelta
) -> str:
    if since >= until:
        raise ValueError(f"the window is empty: {since.isoformat()} is not before {until}")
    try:
        with db.transaction() as session:
            run = ReconciliationRun(
                status="running",
                window_start=since,
                window_end=until,
                started_by=started_by,
                recheck_since=since - recheck if recheck > timedelta(0) else None,
            )
            session.add(run)
            session.flush()
            log.info(
                "reconciliation run %s started by %s: purchases final from %s to %s",
                run.id,
                started_by,
                since.isoformat(),
                until.isoformat(),
            )
            return run.id
    except IntegrityError as exc:
        raise RunInProgress("another reconciliation is running") from exc


def _work(
    db: Database,
    vtpass: Requerier,
    run_id: str,
    timing: Timing,
    pacer: Pacer,
    budget: _Budget,
    *,
    resumed: bool,
) -> RunSummary:
    while True:
        batch = _next_batch(db, run_id)
        if not batch:
            return _finish(db, run_id, resumed=resumed)
        for purchase_id in batch:
            if not budget.take():
                return _summary(db, run_id, resumed=resumed)
            pacer.wait()
            check_purchase(db, vtpass, run_id, purchase_id, timing=timing, pacer=pacer)


def _next_batch(db: Database, run_id: str) -> list[str]:
    with db.transaction() as session:
        run = session.get(ReconciliationRun, run_id)
        assert run is not None
        in_window = and_(
            Purchase.status.in_([s.value for s in FINAL]),
            Purchase.completed_at >= run.window_start,
        )
        query = select(Purchase.id).where(Purchase.completed_at < run.window_end)
        if run.recheck_since is None:
            query = query.where(in_window)
        else:
            # Asked again: still delivered (VTPass may reverse it days later), or left
            # inconclusive by an earlier run (ids are time-ordered) whose window reached past
            # recheck_since.
            recheck_delivered = and_(
                Purchase.status == S.DELIVERED.value,
                Purchase.completed_at >= run.recheck_since,
            )
            carried = Purchase.id.in_(
                select(ReconciliationFinding.purchase_id)
                .join(ReconciliationRun, ReconciliationRun.id == ReconciliationFinding.run_id)
                .where(
                    ReconciliationFinding.finding == Finding.INCONCLUSIVE.value,
                    ReconciliationRun.window_end >= run.recheck_since,
                    ReconciliationRun.id < run.id,
                )
            )
            query = query.where(
                Purchase.status.in_([s.value for s in FINAL]),
                or_(in_window, recheck_delivered, carried),
            )
        if run.cursor_completed_at is not None:
            query = query.where(
                tuple_(Purchase.completed_at, Purchase.id)
                > tuple_(run.cursor_completed_at, run.cursor_purchase_id)
            )
        return list(
            session.execute(
                query.order_by(Purchase.completed_at, Purchase.id).limit(BATCH)
            ).scalars()
        )


def check_purchase(
    db: Database,
    vtpass: Requerier,
    run_id: str,
    purchase_id: str,
    *,
    timing: Timing,
    pacer: Pacer | None = None,
) -> Finding:
    """Requery one purchase, record what VTPass says against what PayLink holds, move the cursor.

    The request ids it superseded (re-paid after a 015) are asked too: one VTPass delivered
    after all is reported (`superseded_delivered`); their answers move nothing.
    """
    with db.transaction() as session:
        request_id, superseded = session.execute(
            select(Purchase.request_id, Purchase.superseded_request_ids).where(
                Purchase.id == purchase_id
            )
        ).one()
    started = utcnow()
    outcome = vtpass.requery(request_id)
    earlier: list[tuple[str, Outcome]] = []
    for old_id in superseded or []:
        if pacer is not None:
            pacer.wait()
        earlier.append((old_id, vtpass.requery(old_id)))
    with db.transaction() as session:
        run = session.get(ReconciliationRun, run_id, with_for_update=True)
        # The history is loaded only if a transition needs it for its event.
        purchase = session.get(
            Purchase,
            purchase_id,
            with_for_update=True,
            populate_existing=True,
            options=[lazyload(Purchase.history)],
        )
        assert run is not None and run.status == "running" and purchase is not None
        status = S(purchase.status)
        applied, comparison = _judge(status, purchase.amount, outcome)
        twice = _superseded_delivered(session, run_id, purchase, earlier)
        # Only a delivered purchase can move (to reversed); for any other the answer is
        # audited, and one saying delivered is reported as a contradiction, never charged.
        execution.apply_outcome(
            session,
            purchase_id,
            applied,
            expected=S.DELIVERED,
            expected_version=purchase.version,
            operation="requery",
            timing=timing,
            actor=f"reconciliation:{run_id}",
            failed_reverses=True,
        )
        refunded = comparison.finding.refunds and purchase.status == S.REVERSED
        reported_outcome = outcome
        if twice is not None and not comparison.finding.is_disagreement:
            reported_outcome, comparison = twice
        elif twice is not None:
            comparison = Comparison(comparison.finding, f"{comparison.note}; {twice[1].note}")
        if comparison.finding is not Finding.AGREES:
            action = "refunded" if refunded else "reported"
            if comparison.finding is Finding.INCONCLUSIVE:
                action = "none"
            session.add(
                _finding_row(run_id, purchase, status, reported_outcome, comparison, action)
            )
        if comparison.finding.is_disagreement:
            log.error(
                "reconciliation %s: purchase %s (request_id %s) disagrees with VTPass: %s; %s",
                run_id,
                purchase_id,
                purchase.request_id,
                comparison.note,
                "refunded through the state machine" if refunded else "an operator must check it",
            )
        run.checked += 1
        run.agreed += comparison.finding is Finding.AGREES
        run.disagreements += comparison.finding.is_disagreement
        run.inconclusive += comparison.finding is Finding.INCONCLUSIVE
        run.refunded += refunded
        run.cursor_completed_at = purchase.completed_at
        run.cursor_purchase_id = purchase.id
        run.updated_at = utcnow()
    # As after any requery: notices received before it that this answer settles are closed.
    followups.settle(db, request_id=request_id, answer=applied.kind, started=started)
    return comparison.finding


def _superseded_delivered(
    session: Session, run_id: str, purchase: Purchase, earlier: list[tuple[str, Outcome]]
) -> tuple[Outcome, Comparison] | None:
    """Audit the answers about a purchase's superseded request ids; return a finding if VTPass
    delivered one of them (definitely: a 2xx)."""
    found = None
    for old_id, answer in earlier:
        audit.record(
            session,
            actor=f"reconciliation:{run_id}",
            action="vtpass.requery_superseded",
            purchase_id=purchase.id,
            user_id=purchase.user_id,
            detail={
                "request_id": old_id,
                "answer": answer.kind.value,
                "code": answer.code,
                "http_status": answer.http_status,
            },
        )
        if found is None and definite(answer) and answer.kind is OutcomeKind.DELIVERED:
            note = (
                f"VTPass delivered the superseded request_id {old_id} (code {answer.code or '-'})"
                f" of this purchase, now under {purchase.request_id}: it may have delivered"
                " twice; the customer was charged once"
            )
            found = (answer, Comparison(Finding.SUPERSEDED_DELIVERED, note))
    return found


def definite(outcome: Outcome) -> bool:
    """Whether an answer may settle anything in a reconciliation: only a 2xx from VTPass.

    A 4xx or 5xx whose body looks final (a 404 with 016, a 429 with 000 and `failed`) may be
    a proxy's, a gateway's or a rate limiter's page: it never reverses a delivered purchase.
    """
    return outcome.http_status is not None and 200 <= outcome.http_status < 300


def _judge(status: S, amount: Decimal, outcome: Outcome) -> tuple[Outcome, Comparison]:
    """Compare, treating a final-looking answer that was not a 2xx as inconclusive.

    Returns the outcome to apply: a non-2xx one is applied as pending (audited as it came,
    with its raw body; it moves nothing).
    """
    if definite(outcome) or outcome.kind in (OutcomeKind.PENDING, OutcomeKind.NOT_SENT):
        return outcome, compare(status, amount, outcome)
    note = (
        f"VTPass {outcome.kind.value} (code {outcome.code or '-'}) with HTTP"
        f" {outcome.http_status or 'none'}: not a definite answer, asked again next run"
    )
    applied = replace(outcome, kind=OutcomeKind.PENDING, description=note)
    return applied, Comparison(Finding.INCONCLUSIVE, note)


def _finding_row(
    run_id: str,
    purchase: Purchase,
    status: S,
    outcome: Outcome,
    comparison: Comparison,
    action: str,
) -> ReconciliationFinding:
    amount = outcome.amount
    if amount is not None and not (amount.is_finite() and abs(amount) <= _MAX_AMOUNT):
        amount = None  # kept in the audited answer; the column cannot hold it
    return ReconciliationFinding(
        run_id=run_id,
        purchase_id=purchase.id,
        request_id=purchase.request_id,
        finding=comparison.finding.value,
        action=action,
        paylink_status=status.value,
        paylink_amount=purchase.amount,
        vtpass_status=outcome.kind.value,
        vtpass_code=storable(outcome.code, max_chars=16),
        vtpass_amount=amount,
        vtpass_transaction_id=storable(outcome.transaction_id, max_chars=128),
        note=storable(comparison.note, max_chars=1000),
    )


def _finish(db: Database, run_id: str, *, resumed: bool) -> RunSummary:
    with db.transaction() as session:
        run = session.get(ReconciliationRun, run_id, with_for_update=True)
        assert run is not None
        if run.status == "running":
            run.status = INCONCLUSIVE if could_not_tell(run) else COMPLETED
            run.finished_at = run.updated_at = utcnow()
        log.log(
            logging.ERROR if run.disagreements or run.status == INCONCLUSIVE else logging.INFO,
            "reconciliation run %s %s: %d checked, %d agree, %d disagree (%d refunded),"
            " %d inconclusive",
            run.id,
            "completed" if run.status == COMPLETED else "could not tell (mostly inconclusive)",
            run.checked,
            run.agreed,
            run.disagreements,
            run.refunded,
            run.inconclusive,
        )
        return RunSummary.of(run, resumed=resumed)


def could_not_tell(run: ReconciliationRun) -> bool:
    """Whether a finished run's answers were mostly inconclusive (VTPass down, 087...): then
    it is not a reconciliation that happened, whatever it agreed on."""
    return run.inconclusive > 0 and run.inconclusive * 2 >= run.checked


def _summary(db: Database, run_id: str, *, resumed: bool) -> RunSummary:
    with db.transaction() as session:
        run = session.get(ReconciliationRun, run_id)
        assert run is not None
        return RunSummary.of(run, resumed=resumed)

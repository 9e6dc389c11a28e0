"""Buying from VTPass and learning the outcome: pay once, requery until VTPass concludes.

The rules (RELIABILITY.md section 2):
- The request_id is minted at acceptance and reused on every attempt.
- The purchase is committed as `processing` *before* the pay request leaves, so a crash
  mid-call leaves a row the sweeper turns into `pending` (requery), never a second pay.
- Any unknown outcome means `pending` and requery. A second pay is sent only when the first
  provably never left (connect refused) or VTPass says it never saw the id (015 on requery,
  once the last pay is old enough that it cannot still be in flight).
- A request_id minted on an earlier Lagos day is replaced before sending, since VTPass would
  reject it; that is only ever done for a purchase known not to have reached VTPass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from shared import audit
from shared import float as vtfloat
from shared.audit import storable
from shared.callbacks import followups
from shared.config import REQUERY_DELAYS
from shared.db import Database, utcnow
from shared.models import Purchase
from shared.products import PRODUCTS, Category
from shared.purchases.states import (
    REQUERYABLE,
    Start,
    captured,
    start_processing,
    transition,
)
from shared.purchases.states import PurchaseStatus as S
from shared.vtpass import (
    Outcome,
    OutcomeKind,
    VTPassClient,
    conflict_note,
    day_prefix,
    is_stale,
    mint_request_id,
)
from shared.vtpass.outcome import customer_description

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    """How long PayLink waits between the steps of a purchase (settings build this)."""

    queued_grace: timedelta = timedelta(seconds=15)
    publish_lease: timedelta = timedelta(seconds=60)
    # How long the sweeper may leave a due queued purchase to workers still working through
    # a backlog towards it before it republishes the pay anyway (shared/purchases/sweeper.py).
    queued_hold_max: timedelta = timedelta(minutes=2)
    processing_lease: timedelta = timedelta(seconds=75)
    not_found_grace: timedelta = timedelta(seconds=75)  # never below the processing lease
    requery_delays: tuple[float, ...] = REQUERY_DELAYS
    requery_deadline: timedelta = timedelta(hours=24)
    max_pay_attempts: int = 6
    # Connect-refused retries go on at least this long (Celery backoff, then the sweeper's
    # re-drive of a queued purchase), so a VTPass outage of a few minutes refunds nobody.
    not_sent_budget: timedelta = timedelta(minutes=5)
    # How long a purchase waits for the VTPass float to cover it before failing (shared/float).
    float_wait: timedelta = timedelta(minutes=10)
    # How long recording a VTPass answer keeps trying while the database is out of reach (a
    # pool timeout, a dropped connection) before leaving the purchase to the sweeper.
    record_budget: timedelta = timedelta(seconds=30)

    def requery_delay(self, attempt: int) -> timedelta:
        """Return the wait before requery number `attempt` (0-based); the last step repeats."""
        return timedelta(seconds=self.requery_delays[min(attempt, len(self.requery_delays) - 1)])


class Next(StrEnum):
    """What the caller (a worker task) should do after an attempt."""

    NOTHING = "nothing"
    RETRY_PAY = "retry_pay"  # connect refused: the pay never left; retry with backoff
    PAY_AGAIN = "pay_again"  # VTPass proved it never got the pay; publish a new attempt


def pay_purchase(
    db: Database,
    vtpass: VTPassClient,
    purchase_id: str,
    *,
    timing: Timing,
    on_insufficient_funds: Callable[[], None] | None = None,
) -> Next:
    """Send the pay request for a queued purchase and record what VTPass answered.

    While the known VTPass float cannot cover it, it is held queued instead (shared/float);
    a `018` (insufficient funds) answer calls `on_insufficient_funds` (a balance check).
    """
    for _ in range(2):
        start = _start(db, purchase_id, timing)
        if not start.held:
            break
        # The float gate held it back in the start statement: `hold_for_float` decides, with
        # the row locked, whether it waits (or fails), or goes now because the float is back.
        if vtfloat.hold_for_float(db, purchase_id, wait=timing.float_wait):
            return Next.NOTHING
    else:
        return Next.NOTHING  # held again at once: queued, due again, the sweeper re-drives it
    purchase = start.purchase
    if purchase is None:
        return Next.NOTHING
    product = PRODUCTS[purchase.service_id]
    outcome = vtpass.pay(
        request_id=purchase.request_id,
        service_id=purchase.service_id,
        phone=purchase.phone,
        amount=purchase.amount,
        billers_code=None
        if product.category is Category.AIRTIME
        else (purchase.customer_id or purchase.phone),
        variation_code=purchase.variation_code,
        subscription_type=purchase.subscription_type,
        quantity=purchase.quantity,
    )
    after = _recorded(
        lambda: record_outcome(
            db,
            purchase_id,
            outcome,
            expected=S.PROCESSING,
            expected_version=purchase.version,
            operation="pay",
            timing=timing,
        ),
        purchase_id=purchase_id,
        budget=timing.record_budget,
    )
    if outcome.code == vtfloat.INSUFFICIENT_FUNDS and on_insufficient_funds is not None:
        on_insufficient_funds()
    return after


def requery_purchase(
    db: Database, vtpass: VTPassClient, purchase_id: str, *, timing: Timing, actor: str = "worker"
) -> Next:
    """Ask VTPass what became of a purchase (pending, in review, or delivered) and record it."""
    with db.transaction() as session:
        purchase = session.get(Purchase, purchase_id)
        if purchase is None or purchase.status not in REQUERYABLE:
            return Next.NOTHING
        status, request_id, version = S(purchase.status), purchase.request_id, purchase.version
    started = utcnow()
    outcome = vtpass.requery(request_id)
    after = _recorded(
        lambda: record_outcome(
            db,
            purchase_id,
            outcome,
            expected=status,
            expected_version=version,
            operation="requery",
            timing=timing,
            actor=actor,
        ),
        purchase_id=purchase_id,
        budget=timing.record_budget,
    )
    # Only a recorded answer that settles them closes the notices received before this
    # requery started; a timeout, a 5xx or "still delivered" leaves them to their follow-ups.
    followups.settle(db, request_id=request_id, answer=outcome.kind, started=started)
    return after


def _recorded(record: Callable[[], Next], *, purchase_id: str, budget: timedelta) -> Next:
    """Record a VTPass answer, retrying with backoff while the database is out of reach.

    The answer exists only in this process: dropped on a pool timeout, VTPass's word that it
    delivered (or never got the pay) would be learned again only by the sweeper's requery.
    Each try is one whole transaction, so a retry after a commit that did land finds the
    purchase moved on and changes nothing.
    """
    give_up = time.monotonic() + budget.total_seconds()
    wait = 0.05
    while True:
        try:
            return record()
        except (sa_exc.TimeoutError, sa_exc.OperationalError) as exc:
            if time.monotonic() + wait > give_up:
                raise
            log.warning(
                "could not record VTPass's answer for purchase %s (%s); retrying in %.2f s",
                purchase_id,
                type(exc).__name__,
                wait,
            )
            time.sleep(wait)
            wait = min(wait * 2, 2.0)


def _start(db: Database, purchase_id: str, timing: Timing) -> Start:
    reason = "sending the pay request to VTPass"
    with db.autocommit_session() as session:
        # The usual case in one statement: queued, with a request_id of the current Lagos day,
        # and the float gate lets it through.
        start = start_processing(
            session,
            purchase_id,
            today=day_prefix(),
            lease=timing.processing_lease,
            reason=reason,
            actor="worker",
            sendable=vtfloat.SENDABLE,
            sendable_params=vtfloat.sendable_params(utcnow()),
        )
    if start.purchase is not None or start.held or not start.renew:
        # Started; held back by the float gate (the caller asks it); or not queued any more
        # (a stale message): nothing to do. A purchase put back to queued always gets a
        # next_attempt_at, so the sweeper republishes it.
        return start
    with db.transaction() as session:
        # The history is not needed to send the pay (no event for `processing`): not loaded.
        # Locked first: the lease is measured from the moment the purchase becomes
        # processing, after any wait for a pooled connection or for the row, never before.
        purchase = session.get(
            Purchase, purchase_id, options=[lazyload(Purchase.history)], with_for_update=True
        )
        if purchase is None or purchase.status != S.QUEUED:
            return Start(None)
        now = utcnow()
        if vtfloat.holds_back(session, purchase, now):
            return Start(None, held=True)  # held meanwhile (another message's worker)
        changes: dict[str, Any] = {
            "pay_attempts": purchase.pay_attempts + 1,
            "last_pay_at": now,
            "next_attempt_at": now + timing.processing_lease,
        }
        if is_stale(purchase.request_id, now):
            # Only queued purchases get here, and those never reached VTPass: a fresh id is safe.
            changes["request_id"] = mint_request_id(now)
            changes["superseded_request_ids"] = [
                *purchase.superseded_request_ids,
                purchase.request_id,
            ]
            reason += f"; request_id renewed after Lagos midnight (was {purchase.request_id})"
        if not transition(
            session,
            purchase,
            S.PROCESSING,
            expected=S.QUEUED,
            reason=reason,
            actor="worker",
            changes=changes,
            now=now,
        ):
            return Start(None)
        return Start(purchase)


def record_outcome(
    db: Database,
    purchase_id: str,
    outcome: Outcome,
    *,
    expected: S,
    expected_version: int | None = None,
    operation: str,
    timing: Timing,
    actor: str = "worker",
) -> Next:
    """Apply one VTPass answer to a purchase still as the caller saw it; say what to do next."""
    with db.transaction() as session:
        return apply_outcome(
            session,
            purchase_id,
            outcome,
            expected=expected,
            expected_version=expected_version,
            operation=operation,
            timing=timing,
            actor=actor,
        )


def apply_outcome(
    session: Any,
    purchase_id: str,
    outcome: Outcome,
    *,
    expected: S,
    expected_version: int | None = None,
    operation: str,
    timing: Timing,
    actor: str = "worker",
    failed_reverses: bool = False,
) -> Next:
    """Apply one VTPass answer in the caller's transaction (`record_outcome` opens its own).

    With `failed_reverses` (the reconciliation's definite requery), a failed answer about a
    delivered purchase reverses it like a reversal answer does: refunded once, by the ledger.
    """
    now = utcnow()
    # The history loads once, when an event needs it (after the change is flushed).
    purchase = session.execute(
        select(Purchase).where(Purchase.id == purchase_id).options(lazyload(Purchase.history))
    ).scalar_one()
    audit.record(
        session,
        actor=actor,
        action=f"vtpass.{operation}",
        purchase_id=purchase_id,
        user_id=purchase.user_id,
        detail=_exchange_detail(purchase, outcome),
    )
    if outcome.operator_alert:
        log.error(
            "VTPass needs an operator: code %s (%s) on purchase %s",
            outcome.code,
            outcome.description,
            purchase_id,
        )
    if purchase.status != expected or expected_version not in (None, purchase.version):
        # Someone else moved it on (a worker, an operator's resolution); their result stands.
        if _contradicts(purchase, outcome):
            _report_contradiction(session, purchase, outcome, actor)
        return Next.NOTHING
    move = _Mover(session, purchase, expected, purchase.version, actor, now)
    return _decide(move, purchase, outcome, operation, timing, now, failed_reverses)


def _contradicts(purchase: Purchase, outcome: Outcome) -> bool:
    """Whether a final answer says the opposite of the final status the purchase already has."""
    if outcome.kind is OutcomeKind.DELIVERED:
        return purchase.status in (S.FAILED, S.REVERSED)
    if outcome.kind in (OutcomeKind.FAILED, OutcomeKind.REVERSED):
        return purchase.status == S.DELIVERED
    return False


def _report_contradiction(session: Any, purchase: Purchase, outcome: Outcome, actor: str) -> None:
    """Never drop an answer that contradicts a settled purchase: audit it and alert an operator."""
    audit.record(
        session,
        actor=actor,
        action="vtpass.contradiction",
        purchase_id=purchase.id,
        user_id=purchase.user_id,
        detail={
            "request_id": purchase.request_id,
            "status": purchase.status,
            "answer": outcome.kind.value,
            "code": outcome.code,
        },
    )
    log.error(
        "VTPass says %s (code %s) about purchase %s, which is already %s; an operator must check"
        " it with VTPass",
        outcome.kind.value,
        outcome.code,
        purchase.id,
        purchase.status,
    )


def _decide(
    move: _Mover,
    purchase: Purchase,
    outcome: Outcome,
    operation: str,
    timing: Timing,
    now: datetime,
    failed_reverses: bool = False,
) -> Next:
    kind = outcome.kind
    after_delivery = S(purchase.status) is S.DELIVERED or (
        S(purchase.status) is S.REVIEW and captured(move.session, purchase.id)
    )
    if after_delivery:
        # Delivered is final; only VTPass reversing it afterwards can change it. A review
        # entered from delivered (a reversal notice no requery settled) stays for an operator
        # unless VTPass now says reversed: its money was captured, so it can never fail.
        if kind is OutcomeKind.REVERSED or (failed_reverses and kind is OutcomeKind.FAILED):
            said = "reversed it" if kind is OutcomeKind.REVERSED else "reports it failed"
            move(
                S.REVERSED,
                f"VTPass {said} after delivery: {outcome.description}"
                + _refund_note(purchase, outcome),
                error=_error(outcome),
            )
        elif _contradicts(purchase, outcome):
            _report_contradiction(move.session, purchase, outcome, move.actor)
        return Next.NOTHING
    # An answer about another request id says nothing of this purchase: keep none of its ids.
    about_this = outcome.acknowledges or not outcome.needs_review
    transaction_id = storable(outcome.transaction_id, max_chars=128) if about_this else None
    known: dict[str, Any] = {
        "vtpass_transaction_id": transaction_id or purchase.vtpass_transaction_id
    }
    if outcome.acknowledges and purchase.vtpass_acknowledged_at is None:
        known["vtpass_acknowledged_at"] = now
    acknowledged = bool(
        purchase.vtpass_acknowledged_at or purchase.vtpass_transaction_id or outcome.acknowledges
    )
    # History is shown to the customer; the audit's exchange record keeps VTPass's own text.
    told = customer_description(outcome.code, outcome.description or kind.value)
    described = storable(f"VTPass {outcome.code or '-'}: {told}", max_chars=500)
    if (
        kind is OutcomeKind.DELIVERED
        and outcome.amount is not None
        and outcome.amount != purchase.amount
    ):
        # VTPass charged another amount than the customer was charged: funds stay held
        # and an operator reconciles it.
        log.error(
            "VTPass says it charged %s for purchase %s of %s; sent to review",
            outcome.amount,
            purchase.id,
            purchase.amount,
        )
        if S(purchase.status) is not S.REVIEW or _adds_evidence(purchase, known):
            move(
                S.REVIEW,
                f"{described}; VTPass charged {outcome.amount}, not {purchase.amount}:"
                " an operator must decide",
                **known,
            )
    elif kind is OutcomeKind.DELIVERED:
        receipt = outcome.receipt_for(purchase.category)
        note = conflict_note(receipt)
        reason = f"{described}; {note}" if note else described
        move(S.DELIVERED, reason, receipt=storable(receipt) or None, **known)
    elif (
        kind is OutcomeKind.FAILED
        and outcome.code == "085"
        and operation == "pay"
        and is_stale(purchase.request_id, now)
        and purchase.pay_attempts < timing.max_pay_attempts
    ):
        # 085: VTPass refused the id unprocessed, because Lagos midnight passed while the
        # pay was on its way. Nothing was charged; the next attempt mints a fresh id.
        move(
            S.QUEUED,
            f"VTPass refused request_id {purchase.request_id} as from an earlier day (085);"
            " renewing it and paying again",
            next_attempt_at=now + timing.publish_lease,
        )
        return Next.PAY_AGAIN
    elif kind is OutcomeKind.FAILED:
        move(S.FAILED, described, error=_error(outcome), **known)
    elif kind is OutcomeKind.REVERSED:
        move(
            S.REVERSED, described + _refund_note(purchase, outcome), error=_error(outcome), **known
        )
    elif kind is OutcomeKind.NOT_SENT and operation == "pay":
        if (
            purchase.pay_attempts >= timing.max_pay_attempts
            and now - purchase.created_at >= timing.not_sent_budget
        ):
            move(
                S.FAILED,
                "VTPass could not be reached; nothing was sent",
                error={
                    "code": "upstream_unavailable",
                    "message": "VTPass could not be reached; you were not charged.",
                },
            )
            return Next.NOTHING
        move(
            S.QUEUED,
            "VTPass refused the connection; the request never left",
            next_attempt_at=now + timing.publish_lease,
        )
        return Next.RETRY_PAY
    elif kind is OutcomeKind.NOT_FOUND and acknowledged:
        # VTPass already showed it has this request_id: a 015 now proves nothing. Never pay
        # again; requery on, then review (RELIABILITY.md: never charge twice).
        log.error(
            "VTPass answered 015 for purchase %s after acknowledging request_id %s;"
            " not paying again, an operator may have to check it",
            purchase.id,
            purchase.request_id,
        )
        _still_pending(
            move,
            purchase,
            f"{described} after VTPass had acknowledged request_id {purchase.request_id};"
            " not paying again",
            operation,
            timing,
            now,
        )
    elif kind is OutcomeKind.NOT_FOUND and _pay_cannot_be_in_flight(purchase, timing, now):
        if S(purchase.status) is S.REVIEW:
            move(
                S.FAILED,
                "VTPass never received this purchase (015); nothing was charged",
                error={"code": "not_received", "message": "VTPass never received it."},
            )
            return Next.NOTHING
        move(
            S.QUEUED,
            f"VTPass never received request_id {purchase.request_id} (015); paying again",
            next_attempt_at=now + timing.publish_lease,
            # The second pay starts its requery schedule from the first step.
            requery_attempts=0,
        )
        return Next.PAY_AGAIN
    elif outcome.needs_review:
        move(S.REVIEW, f"{described}; an operator must decide", **known)
    else:
        _still_pending(move, purchase, described, operation, timing, now, **known)
    return Next.NOTHING


def _still_pending(
    move: _Mover,
    purchase: Purchase,
    described: str,
    operation: str,
    timing: Timing,
    now: datetime,
    **known: Any,
) -> None:
    if S(purchase.status) is S.REVIEW:
        # An operator's requery that learned nothing new leaves it in review; evidence that
        # VTPass has it is still kept, so a later 015 cannot release funds VTPass took.
        if _adds_evidence(purchase, known):
            move(S.REVIEW, f"{described}; still in review", **known)
        return
    since = purchase.pending_since or now
    if now - since >= timing.requery_deadline:
        move(
            S.REVIEW,
            f"no outcome from VTPass within {timing.requery_deadline}; {described}",
            **known,
        )
        return
    attempt = purchase.requery_attempts + (1 if operation == "requery" else 0)
    move(
        S.PENDING,
        f"outcome not known yet ({described}); requerying",
        pending_since=since,
        requery_attempts=attempt,
        next_attempt_at=now + timing.requery_delay(attempt),
        **known,
    )


def _adds_evidence(purchase: Purchase, known: dict[str, Any]) -> bool:
    """Whether `known` tells something the purchase does not hold yet."""
    return any(getattr(purchase, name) != value for name, value in known.items())


def _pay_cannot_be_in_flight(purchase: Purchase, timing: Timing, now: datetime) -> bool:
    # A 015 right after a pay may only mean VTPass has not recorded it yet.
    return purchase.last_pay_at is None or now - purchase.last_pay_at >= timing.not_found_grace


class _Mover:
    """Apply compare-and-set transitions from one expected status."""

    def __init__(
        self, session: Any, purchase: Purchase, expected: S, version: int, actor: str, now: datetime
    ):
        self.session, self.purchase, self.expected = session, purchase, expected
        self.version, self.actor, self.now = version, actor, now

    def __call__(self, to: S, reason: str, **changes: Any) -> bool:
        return transition(
            self.session,
            self.purchase,
            to,
            expected=self.expected,
            expected_version=self.version,
            reason=reason,
            actor=self.actor,
            changes=changes,
            now=self.now,
        )


def _refund_note(purchase: Purchase, outcome: Outcome) -> str:
    # The wallet gets back what the customer was charged (the ledger moves purchase.amount);
    # VTPass's own figure is often its refund net of commission, kept for reconciliation.
    if outcome.amount is None:
        return ""
    return f"; {purchase.amount} back to the wallet (VTPass reported {outcome.amount})"


def _error(outcome: Outcome) -> dict[str, Any]:
    said = outcome.description or "VTPass did not deliver this purchase."
    return storable(
        {
            "code": "vtpass_reversed" if outcome.kind is OutcomeKind.REVERSED else "vtpass_failed",
            "message": customer_description(outcome.code, said),
            "vtpass_code": outcome.code,
            # Operators only (purchase_object(..., operator=True)): VTPass's own words.
            "vtpass_message": said,
        },
        max_chars=500,
    )


def _exchange_detail(purchase: Purchase, outcome: Outcome) -> dict[str, Any]:
    return {
        "request_id": purchase.request_id,
        "outcome": outcome.kind.value,
        "code": outcome.code,
        "description": outcome.description,
        "http_status": outcome.http_status,
        "transaction_id": outcome.transaction_id,
        "amount": None if outcome.amount is None else str(outcome.amount),
        "response": outcome.raw,
    }

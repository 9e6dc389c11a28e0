"""Following up VTPass notices until a requery answer settles them.

A transaction-update notice is a hint that something changed at VTPass (most often a
reversal of a delivered purchase). It stays open until a requery answer settles it:
- the answer is final (delivered, failed, reversed) and was recorded;
- the notice was received before that requery started (a later notice may say more);
- a notice that claims a failure or reversal is settled only by an answer that says so too:
  VTPass can still say `delivered` for a moment after it reversed a purchase;
- the purchase's recorded status agrees: an answer the state machine did not apply (a
  `failed` answer about a delivered purchase, an answer dropped because the purchase moved on
  meanwhile) settles nothing, so the notice is followed up again.
A requery that times out, answers 5xx, 083/099 or fails to record settles nothing. Until then
the sweeper requeries the purchase on the REQUERY_DELAYS steps; when they run out the notice
is closed with an audit entry and an operator alert, never silently.

A notice about a purchase that already ended failed or reversed (its money back with the
customer) is closed at its first follow-up: no requery can change that purchase. If it claims
a failed purchase was delivered, VTPass and PayLink disagree about money: audited, alerted.

A notice about a request_id the purchase has since replaced (`superseded_request_ids`, renewed
after Lagos midnight once VTPass proved it never had it) is followed up the same way, but no
answer about the current id can settle it: VTPass speaking of an id it said it never had is
for an operator to check, so it always ends with the audit entry and the alert.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from shared import audit
from shared.db import Database, utcnow
from shared.models import Purchase, VTPassCallback
from shared.purchases.states import FINAL, REQUERYABLE, PurchaseStatus
from shared.vtpass.outcome import OutcomeKind, classify_pay_body

__all__ = ["claim", "due", "settle", "settles"]

log = logging.getLogger(__name__)

_FINAL = frozenset({OutcomeKind.DELIVERED, OutcomeKind.FAILED, OutcomeKind.REVERSED})
_UNDONE = frozenset({OutcomeKind.FAILED, OutcomeKind.REVERSED})


def claim(body: Any) -> OutcomeKind | None:
    """Say what a notice claims happened (read by the one VTPass classifier), if anything."""
    if not isinstance(body, Mapping):
        return None
    data = body.get("data")
    return classify_pay_body(data if isinstance(data, Mapping) else body, operation="requery").kind


# The state machine's own final statuses; "undone" ones gave the customer's money back.
_UNDONE_STATUSES = FINAL - {PurchaseStatus.DELIVERED}


def settles(answer: OutcomeKind, claimed: OutcomeKind | None, status: str | None = None) -> bool:
    """Return True if a recorded requery answer settles a notice that claimed `claimed`,
    the purchase now standing at `status` (None: not checked)."""
    if answer not in _FINAL:
        return False
    if status is not None and status not in FINAL:
        return False
    if claimed in _UNDONE:
        return answer in _UNDONE and (status is None or status in _UNDONE_STATUSES)
    return True


def settle(db: Database, *, request_id: str, answer: OutcomeKind, started: datetime) -> int:
    """Close the notices about request_id that a recorded answer settles; return how many."""
    now = utcnow()
    closed = 0
    with db.transaction() as session:
        status = session.execute(
            select(Purchase.status).where(Purchase.request_id == request_id)
        ).scalar_one_or_none()
        rows = session.execute(
            select(VTPassCallback)
            .where(
                VTPassCallback.request_id == request_id,
                VTPassCallback.handled_at.is_(None),
                VTPassCallback.received_at < started,
            )
            .with_for_update(skip_locked=True)
        ).scalars()
        for row in rows:
            if settles(answer, claim(row.body), status or ""):
                row.handled_at = now
                closed += 1
    return closed


# A notice is about a purchase by its current request_id or one it superseded.
_ABOUT = or_(
    Purchase.request_id == VTPassCallback.request_id,
    Purchase.superseded_request_ids.contains(func.jsonb_build_array(VTPassCallback.request_id)),
)


def _close_on_undone(session: Any, *, now: datetime, first_after: timedelta, limit: int) -> None:
    """Close open notices about failed or reversed purchases; alert on a failed one delivered."""
    rows = session.execute(
        select(VTPassCallback, Purchase)
        .join(Purchase, _ABOUT)
        .where(
            VTPassCallback.handled_at.is_(None),
            VTPassCallback.received_at < now - first_after,
            Purchase.status.in_([s.value for s in _UNDONE_STATUSES]),
        )
        .order_by(VTPassCallback.id)
        .limit(limit)
        .with_for_update(of=VTPassCallback, skip_locked=True)
    ).all()
    for notice, purchase in rows:
        notice.handled_at = now
        # A reversed purchase was delivered before: a late "delivered" notice is old news.
        delivered = claim(notice.body) is OutcomeKind.DELIVERED
        if purchase.status != PurchaseStatus.FAILED or not delivered:
            continue
        audit.record(
            session,
            actor="sweeper",
            action="vtpass.notice_contradiction",
            purchase_id=purchase.id,
            user_id=purchase.user_id,
            detail={
                "request_id": notice.request_id,
                "notice_id": notice.id,
                "claimed": OutcomeKind.DELIVERED.value,
                "status": purchase.status,
            },
        )
        log.error(
            "VTPass notice %s says request_id %s was delivered, but purchase %s is %s (the"
            " customer has the money back); an operator must check it with VTPass",
            notice.id,
            notice.request_id,
            purchase.id,
            purchase.status,
        )


def due(
    db: Database,
    *,
    first_after: timedelta,
    delays: tuple[float, ...],
    now: datetime | None = None,
    limit: int = 500,
) -> list[str]:
    """Pick open notices whose follow-up is due; return the purchases to requery.

    A notice is first followed up `first_after` its arrival (its own requery should have run
    by then), then after each REQUERY_DELAYS step. Once the steps are spent it is closed with
    an audit entry and an operator alert.
    """
    now = now or utcnow()
    purchases: list[str] = []
    with db.transaction() as session:
        _close_on_undone(session, now=now, first_after=first_after, limit=limit)
        rows = session.execute(
            select(VTPassCallback, Purchase)
            .join(Purchase, _ABOUT)
            .where(
                VTPassCallback.handled_at.is_(None),
                Purchase.status.in_([s.value for s in REQUERYABLE]),
                or_(
                    and_(
                        VTPassCallback.next_followup_at.is_(None),
                        VTPassCallback.received_at < now - first_after,
                    ),
                    VTPassCallback.next_followup_at <= now,
                ),
            )
            .order_by(VTPassCallback.id)
            .limit(limit)
            .with_for_update(of=VTPassCallback, skip_locked=True)
        ).all()
        for notice, purchase in rows:
            superseded = notice.request_id != purchase.request_id
            if notice.followups >= len(delays):
                notice.handled_at = now
                audit.record(
                    session,
                    actor="sweeper",
                    action="vtpass.notice_unsettled",
                    purchase_id=purchase.id,
                    user_id=purchase.user_id,
                    detail={
                        "request_id": notice.request_id,
                        "notice_id": notice.id,
                        "claimed": (claim(notice.body) or OutcomeKind.PENDING).value,
                        "status": purchase.status,
                        "followups": notice.followups,
                        "superseded": superseded,
                    },
                )
                log.error(
                    "VTPass notice %s about purchase %s (%s%s) was never settled by a requery "
                    "after %s follow-ups; an operator must check it",
                    notice.id,
                    purchase.id,
                    purchase.status,
                    f"; about its superseded request_id {notice.request_id}" if superseded else "",
                    notice.followups,
                )
                continue
            notice.next_followup_at = now + timedelta(seconds=delays[notice.followups])
            notice.followups += 1
            if purchase.id not in purchases:
                purchases.append(purchase.id)
    return purchases

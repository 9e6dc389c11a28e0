"""The sweeper: find purchases that need driving and say which tasks to publish.

Celery on Redis can lose a message (a killed worker, a Redis restart, a failed publish), so
nothing depends on one arriving. Every non-final purchase carries `next_attempt_at`; when it
passes, the sweeper drives the purchase again:
- `queued` past its grace: publish the pay task (the after-commit publish was lost), unless
  the workers are still working through the queue towards it (`_taken_up_to`, for at most
  `Timing.queued_hold_max`): a backlog waits longer than the grace without any message being
  lost, and republishing all of it would double the queue, each copy in front of new
  purchases;
- `pending` when its requery is due: publish the requery task;
- `processing` past its lease: the worker died mid-call, so the outcome is unknown and the
  purchase becomes `pending` (requery, never a second pay);
- `pending` past the requery deadline: `review`, even if its requeries keep failing.
Each pick pushes `next_attempt_at` forward by a lease, so a purchase is not published again
while its task is still waiting in the queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select, true, update
from sqlalchemy.orm import Session

from shared.db import Database, utcnow
from shared.models import Purchase
from shared.purchases.execution import Timing
from shared.purchases.states import PurchaseStatus as S
from shared.purchases.states import transition

BATCH = 500


@dataclass
class Sweep:
    pay: list[str] = field(default_factory=list)
    requery: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)


def sweep(db: Database, *, timing: Timing, now: datetime | None = None) -> Sweep:
    """Lease every due purchase; return the ids whose tasks should be published."""
    now = now or utcnow()
    result = Sweep()
    with db.transaction() as session:
        _review_overdue(session, now, timing)
        result.pay = _lease(
            session, S.QUEUED, now, timing, accepted_before=_taken_up_to(session, now, timing)
        )
        result.requery = _lease(session, S.PENDING, now, timing)
        stuck = session.execute(
            select(Purchase)
            .where(Purchase.status == S.PROCESSING, Purchase.next_attempt_at <= now)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).scalars()
        for purchase in stuck:
            if transition(
                session,
                purchase,
                S.PENDING,
                expected=S.PROCESSING,
                reason="the worker stopped during the VTPass call; outcome unknown, requerying",
                actor="sweeper",
                changes={
                    "pending_since": purchase.pending_since or now,
                    "next_attempt_at": now + timing.publish_lease,
                },
                now=now,
            ):
                result.recovered.append(purchase.id)
    result.requery.extend(result.recovered)
    return result


def _review_overdue(session: Session, now: datetime, timing: Timing) -> None:
    overdue = session.execute(
        select(Purchase)
        .where(
            Purchase.status == S.PENDING,
            Purchase.pending_since <= now - timing.requery_deadline,
        )
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).scalars()
    for purchase in overdue:
        transition(
            session,
            purchase,
            S.REVIEW,
            expected=S.PENDING,
            reason=f"no outcome from VTPass within {timing.requery_deadline}; an operator decides",
            actor="sweeper",
            now=now,
        )


# How far back `_taken_up_to` looks for a purchase the workers took (newest first), and how
# long a due purchase may be held back at most while the queue is said to be moving.
RECENT = 10_000


def _taken_up_to(session: Session, now: datetime, timing: Timing) -> datetime | None:
    """Roughly how far the workers have got through the pay queue, while they move through it.

    The queue is first in, first out and a purchase is published as it is accepted, so once
    the workers took a purchase accepted at T, the messages of purchases accepted well before
    T were mostly taken too; a purchase accepted after T may still have its message waiting,
    and a second copy would only queue in front of new purchases. This is a hint for leaving
    a backlog alone, never a guarantee: prefetch, several workers and retries reorder the
    queue, and a purchase held back wrongly is republished anyway once the queue stands still
    for the grace, or once it has waited `Timing.queued_hold_max`.

    Returns T, the acceptance time of the newest of the last `RECENT` purchases that has
    left `queued`, if it left (or last moved) within the grace and not after `now`; None when
    the workers are not moving or are further back than that (then every due purchase is
    republished, as it always was).
    """
    recent = (
        select(
            Purchase.id,
            Purchase.status,
            Purchase.created_at,
            Purchase.last_pay_at,
            Purchase.updated_at,
        )
        .order_by(Purchase.id.desc())
        .limit(RECENT)
        .subquery()
    )
    newest = session.execute(
        select(recent.c.created_at, func.coalesce(recent.c.last_pay_at, recent.c.updated_at))
        .where(recent.c.status != S.QUEUED)
        .order_by(recent.c.id.desc())
        .limit(1)
    ).first()
    if newest is None or not now - timing.queued_grace <= newest[1] <= now:
        return None
    return newest[0]


def _lease(
    session: Session,
    status: S,
    now: datetime,
    timing: Timing,
    *,
    accepted_before: datetime | None = None,
) -> list[str]:
    due = (
        select(Purchase.id)
        .where(Purchase.status == status, Purchase.next_attempt_at <= now)
        .where(
            true()
            if accepted_before is None
            else or_(
                Purchase.created_at < accepted_before,
                Purchase.created_at < now - timing.queued_hold_max,
            )
        )
        .order_by(Purchase.next_attempt_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = session.execute(
        update(Purchase)
        .where(Purchase.id.in_(due), Purchase.status == status)
        .values(next_attempt_at=now + timing.publish_lease)
        .returning(Purchase.id)
        .execution_options(synchronize_session=False)
    )
    return [r[0] for r in rows]

"""The event outbox: events and their deliveries are written in the status change's transaction.

A status change and the promise to tell the client about it commit together or not at all
(RELIABILITY.md section 6), so no webhook is lost to a crash between the two. Nothing is sent
from here: the delivery sweeper picks up the rows once they are committed.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by, insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from shared.db import Database, new_id, utcnow
from shared.errors import NotFound
from shared.formats import iso
from shared.models import Event, Purchase, StatusChange, User, WebhookDelivery, WebhookEndpoint
from shared.purchases.views import purchase_object

EVENT_STATUSES = ("pending", "delivered", "failed", "reversed", "review")
EVENT_TYPES = tuple(f"purchase.{status}" for status in EVENT_STATUSES)


# Whether this thread (or task) recorded a webhook delivery since it last asked.
_deliveries_recorded: ContextVar[bool] = ContextVar("deliveries_recorded", default=False)


def take_recorded_deliveries() -> bool:
    """Say whether deliveries were recorded here since the last call (and forget it).

    A worker publishes due deliveries after a task only when it made some: most users have no
    endpoint, and the beat's delivery sweep still picks up anything a lost publish left.
    """
    recorded = _deliveries_recorded.get()
    _deliveries_recorded.set(False)
    return recorded


def record_purchase_event(session: Session, purchase: Purchase, status: str) -> Event | None:
    """Record `purchase.<status>` and its deliveries inside the caller's transaction."""
    if status not in EVENT_STATUSES:
        return None
    # Anything the caller added through the ORM is written first, so the history read below
    # has the entry of this very change.
    session.flush()
    now = utcnow()
    event_id = new_id("evt")
    event_type = f"purchase.{status}"
    # Locks the user's row until commit: the user's events commit in `seq` order. The same
    # statement names the endpoints to deliver to and reads the purchase's history afresh
    # (the caller holds the purchase's row, so no other change can slip in after it).
    seq, endpoint_ids, *history = (
        session.connection()
        .execute(
            _NEXT_EVENT,
            {
                "user_id": purchase.user_id,
                "event_filter": [event_type],
                "purchase_id": purchase.id,
            },
        )
        .one()
    )
    set_committed_value(
        purchase,
        "history",
        [
            StatusChange(id=id_, purchase_id=purchase.id, status=status_, reason=reason, at=at)
            for id_, status_, reason, at in zip(*(column or () for column in history), strict=True)
        ],
    )
    payload = {
        "id": event_id,
        "type": event_type,
        "created_at": iso(now),
        "data": purchase_object(purchase),
    }
    row = {
        "id": event_id,
        "user_id": purchase.user_id,
        "type": event_type,
        "purchase_id": purchase.id,
        "seq": seq,
        "payload": payload,
        "created_at": now,
    }
    # Core statements: the rows are new and nothing in this transaction reads them back.
    conn = session.connection()
    conn.execute(_INSERT_EVENT, row)
    if endpoint_ids:
        conn.execute(
            _INSERT_DELIVERY,
            [
                {
                    "id": new_id("whd"),
                    "event_id": event_id,
                    "endpoint_id": endpoint_id,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for endpoint_id in endpoint_ids
            ],
        )
        _deliveries_recorded.set(True)
    return Event(**row)


_USERS = cast(Table, User.__table__)
_ENDPOINTS = cast(Table, WebhookEndpoint.__table__)
_HISTORY = cast(Table, StatusChange.__table__)
# The user's next event number, the endpoints subscribed to the event and the purchase's
# history (its ids, statuses, reasons and times, in order), in one statement built once.
_NEXT_EVENT = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("user_id"))
    .values(event_seq=_USERS.c.event_seq + 1)
    .returning(
        _USERS.c.event_seq,
        select(func.array_agg(_ENDPOINTS.c.id))
        .where(
            _ENDPOINTS.c.user_id == bindparam("user_id"),
            _ENDPOINTS.c.enabled.is_(True),
            _ENDPOINTS.c.deleted_at.is_(None),
            or_(
                _ENDPOINTS.c.events.is_(None),
                _ENDPOINTS.c.events.contains(bindparam("event_filter", type_=JSONB)),
            ),
        )
        .scalar_subquery(),
        *(
            select(func.array_agg(aggregate_order_by(column, _HISTORY.c.id)))
            .where(_HISTORY.c.purchase_id == bindparam("purchase_id"))
            .scalar_subquery()
            for column in (_HISTORY.c.id, _HISTORY.c.status, _HISTORY.c.reason, _HISTORY.c.at)
        ),
    )
)
_INSERT_EVENT = insert(cast(Table, Event.__table__))
_INSERT_DELIVERY = insert(cast(Table, WebhookDelivery.__table__))


def subscribed_endpoints(session: Session, user_id: str, event_type: str) -> list[str]:
    """Return the ids of a user's live endpoints whose filter lets `event_type` through."""
    return list(
        session.scalars(select(WebhookEndpoint.id).where(*_subscribed(user_id, event_type)))
    )


def _subscribed(user_id: str, event_type: str) -> tuple[Any, ...]:
    return (
        WebhookEndpoint.user_id == user_id,
        WebhookEndpoint.enabled.is_(True),
        WebhookEndpoint.deleted_at.is_(None),
        or_(WebhookEndpoint.events.is_(None), WebhookEndpoint.events.contains([event_type])),
    )


def list_events(
    db: Database,
    *,
    user_id: str,
    limit: int,
    starting_after: str | None = None,
    event_type: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Return a page of a user's event bodies, newest first, and whether more follow."""
    query = select(Event.payload).where(Event.user_id == user_id)
    if event_type:
        query = query.where(Event.type == event_type)
    if starting_after:
        # Ids are time-ordered, so "older than the cursor" is "smaller id".
        query = query.where(Event.id < starting_after)
    with db.sessions() as session:
        rows = list(session.scalars(query.order_by(Event.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def redeliver_event(
    db: Database, *, user_id: str, event_id: str, now: datetime | None = None
) -> list[str]:
    """Make an event due now at every endpoint subscribed to it; return those endpoints' ids."""
    now = now or utcnow()
    with db.transaction() as session:
        event = session.get(Event, event_id)
        if event is None or event.user_id != user_id:
            raise NotFound("No such event.")
        endpoint_ids = subscribed_endpoints(session, user_id, event.type)
        if endpoint_ids:
            rows = [
                {
                    "id": new_id("whd"),
                    "event_id": event_id,
                    "endpoint_id": endpoint_id,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for endpoint_id in endpoint_ids
            ]
            statement = insert(WebhookDelivery).values(rows)
            # A delivery that already exists starts its retry schedule again from the top.
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["event_id", "endpoint_id"],
                    set_={
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "open_attempt_at": None,
                    },
                )
            )
    return endpoint_ids

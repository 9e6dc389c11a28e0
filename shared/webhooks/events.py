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
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Session

from shared.db import Database, new_id, utcnow
from shared.errors import NotFound
from shared.formats import iso
from shared.models import Event, Purchase, User, WebhookDelivery, WebhookEndpoint
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
    """Record `purchase.<status>` and its deliveries inside the caller's transaction.

    `purchase.history` must already hold this change's line (`transition` sets it from the
    statement that wrote it, so nothing is read again here).
    """
    if status not in EVENT_STATUSES:
        return None
    now = utcnow()
    event_id = new_id("evt")
    event_type = f"purchase.{status}"
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
        "payload": payload,
        "created_at": now,
    }
    # One statement: the user's next event number (locking the user's row until commit, so
    # the user's events commit in `seq` order), the event itself, and the endpoints to
    # deliver it to.
    params = {
        # Named apart from the users table's columns: the UPDATE would SET any it is given.
        **{f"event_{key}": value for key, value in row.items() if key != "user_id"},
        "user_id": purchase.user_id,
        "event_filter": [event_type],
    }
    assert not set(params) & set(_USERS.c.keys()), params
    seq, endpoint_ids = session.connection().execute(_RECORD_EVENT, params).one()
    if endpoint_ids:
        session.connection().execute(
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
    return Event(**row, seq=seq)


_USERS = cast(Table, User.__table__)
_ENDPOINTS = cast(Table, WebhookEndpoint.__table__)
_EVENTS = cast(Table, Event.__table__)
_NUMBERED = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("user_id"))
    .values(event_seq=_USERS.c.event_seq + 1)
    .returning(_USERS.c.event_seq)
    .cte("numbered")
)
# The event, numbered, and the ids of the endpoints subscribed to it, in one statement built
# once.
_RECORD_EVENT = (
    insert(_EVENTS)
    .from_select(
        ["id", "user_id", "type", "purchase_id", "seq", "payload", "created_at"],
        select(
            bindparam("event_id", type_=_EVENTS.c.id.type),
            bindparam("user_id", type_=_EVENTS.c.user_id.type),
            bindparam("event_type", type_=_EVENTS.c.type.type),
            bindparam("event_purchase_id", type_=_EVENTS.c.purchase_id.type),
            _NUMBERED.c.event_seq,
            bindparam("event_payload", type_=_EVENTS.c.payload.type),
            bindparam("event_created_at", type_=_EVENTS.c.created_at.type),
        ),
    )
    .returning(
        _EVENTS.c.seq,
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
    )
)
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

"""One tenant cannot take the webhooks pool: a real worker, real trickling receivers.

The stack has its own database and Redis, so no other test's worker or beat touches these
deliveries, and a webhooks pool of four threads, so the attack is cheap to mount.
"""

from __future__ import annotations

import uuid

from shared.db import new_id, utcnow
from shared.formats import iso
from shared.models import Event, WebhookDelivery
from shared.users import register_user
from shared.webhooks import endpoints
from tests.support import wait_for


def due_event(db, user_id: str, endpoint_ids: list[str]) -> str:
    """Record an event for the user, due now at each of the endpoints."""
    with db.transaction() as session:
        event_id = new_id("evt")
        payload = {"id": event_id, "type": "purchase.delivered", "created_at": iso(utcnow())}
        session.add(Event(id=event_id, user_id=user_id, type=payload["type"], payload=payload))
        session.flush()
        for endpoint_id in endpoint_ids:
            session.add(
                WebhookDelivery(
                    event_id=event_id, endpoint_id=endpoint_id, next_attempt_at=utcnow()
                )
            )
    return event_id


def test_one_users_slow_endpoints_leave_room_for_another_users_webhook(
    private_database, private_stack, trickler, receiver
):
    app, _, _ = private_stack(
        concurrency=4,
        database_url=private_database,
        webhook_max_in_flight_per_user=2,
        webhook_max_in_flight_per_endpoint=1,
        webhook_attempt_deadline_s=60.0,
        webhook_retry_delays=(3600.0,),
    )
    db = app.extensions["paylink"].db
    hostile, hook = trickler(interval=0.5), receiver()

    def user() -> str:
        return register_user(
            db, email=f"u-{uuid.uuid4().hex[:10]}@example.com", password="correct-horse-42"
        ).id

    attacker, victim = user(), user()
    many = [
        endpoints.create_endpoint(
            db, user_id=attacker, url=hostile.url(f"/{n}"), events=None, allow_private=True
        )[0].id
        for n in range(app.extensions["paylink"].settings.webhook_max_endpoints)
    ]
    for _ in range(3):
        due_event(db, attacker, many)
    wait_for(lambda: hostile.open >= 2, timeout=30, what="the attacker's attempts to hang")

    mine, _ = endpoints.create_endpoint(
        db, user_id=victim, url=hook.url(), events=None, allow_private=True
    )
    event_id = due_event(db, victim, [mine.id])
    # Without limits, sixty hung attempts hold all four threads for their whole deadline.
    [got] = wait_for(lambda: hook.received, timeout=20, what="the other user's webhook")
    assert got.id == event_id
    assert hostile.most_open == 2, "one user never holds more than its share of the pool"

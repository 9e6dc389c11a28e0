"""A worker publishes due webhook deliveries after a task only when the task made some."""

from __future__ import annotations

from shared.models import Purchase
from shared.webhooks import endpoints
from shared.webhooks.events import record_purchase_event, take_recorded_deliveries
from tests.shared import test_execution

# The same funded, queued purchases the execution tests use.
new_purchase = test_execution.new_purchase


def record(runtime, purchase_id: str) -> None:
    with runtime.db.transaction() as session:
        record_purchase_event(session, session.get(Purchase, purchase_id), "pending")


def test_deliveries_are_noted_only_when_an_endpoint_is_subscribed(runtime, new_purchase):
    take_recorded_deliveries()
    purchase_id = new_purchase()
    record(runtime, purchase_id)
    assert take_recorded_deliveries() is False
    with runtime.db.sessions() as session:
        user_id = session.get(Purchase, purchase_id).user_id
    endpoints.create_endpoint(
        runtime.db, user_id=user_id, url="https://example.com/hook", events=None, allow_private=True
    )
    record(runtime, purchase_id)
    assert take_recorded_deliveries() is True
    assert take_recorded_deliveries() is False  # asked once, forgotten


def test_an_endpoint_hears_only_the_events_it_subscribed_to(runtime, new_purchase):
    from sqlalchemy import select

    from shared.models import WebhookDelivery

    take_recorded_deliveries()
    purchase_id = new_purchase()
    with runtime.db.sessions() as session:
        user_id = session.get(Purchase, purchase_id).user_id
    endpoint, _secret = endpoints.create_endpoint(
        runtime.db,
        user_id=user_id,
        url="https://example.com/failures",
        events=["purchase.failed"],
        allow_private=True,
    )
    record(runtime, purchase_id)  # purchase.pending: not subscribed
    assert take_recorded_deliveries() is False
    with runtime.db.transaction() as session:
        event = record_purchase_event(session, session.get(Purchase, purchase_id), "failed")
    assert take_recorded_deliveries() is True
    with runtime.db.sessions() as session:
        delivered_to = session.scalars(
            select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == event.id)
        ).all()
    assert delivered_to == [endpoint.id]

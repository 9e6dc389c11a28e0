"""Webhook abuse limits, each tried for real: a trickling receiver, a worker that died
mid-attempt, a delivery past its attempt cap, and endpoints or users at their concurrency limit.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import update

from shared.db import utcnow
from shared.models import WebhookDelivery, WebhookEndpoint
from shared.webhooks.delivery import deliver, max_attempts
from shared.webhooks.slots import DeliverySlots
from tests.shared.test_webhook_delivery import HTTP, attempts_of, load, make_delivery
from tests.support import wait_for


def set_delivery(db, delivery_id: str, **values) -> None:
    with db.transaction() as session:
        session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values)
        )


def test_a_trickling_receiver_is_cut_at_the_deadline_and_counts_as_a_failure(
    runtime, slow_retries, endpoint, trickler
):
    hostile = trickler(interval=0.2)
    settings = slow_retries.with_overrides(webhook_attempt_deadline_s=1.5)
    endpoint_id, _ = endpoint(hostile.url())
    _, delivery_id = make_delivery(runtime.db, endpoint_id)
    outcome: dict[str, str] = {}

    def attempt() -> None:
        outcome["status"] = deliver(runtime.db, delivery_id, settings=settings, http=HTTP)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    # Each byte comes well within the 10 s read timeout: only the deadline can end this.
    thread.join(timeout=20)
    assert not thread.is_alive(), "the attempt held its thread past its deadline"
    assert hostile.sent > 0, "the receiver trickled"
    wait_for(lambda: hostile.open == 0, what="the connection to be closed")

    assert outcome["status"] == "pending"
    [attempt_row] = attempts_of(runtime.db, delivery_id)
    assert attempt_row.http_status is None
    assert "1.5 s deadline" in attempt_row.error
    row = load(runtime.db, WebhookDelivery, delivery_id)
    # The schedule moved on (the next retry is the slow one, an hour away) ...
    assert row.next_attempt_at > utcnow() + timedelta(minutes=30)
    assert row.open_attempt_at is None
    # ... and so did the endpoint's failure clock.
    assert load(runtime.db, WebhookEndpoint, endpoint_id).failing_since is not None


def test_an_attempt_whose_worker_died_is_recorded_as_failed_when_reclaimed(
    runtime, slow_retries, endpoint, receiver
):
    hook = receiver()
    endpoint_id, _ = endpoint(hook.url())
    _, delivery_id = make_delivery(runtime.db, endpoint_id)
    # A claim made two minutes ago whose run never came back (kill -9 mid-send).
    set_delivery(
        runtime.db,
        delivery_id,
        attempts=1,
        open_attempt_at=utcnow() - timedelta(minutes=2),
        next_attempt_at=utcnow(),
    )
    assert deliver(runtime.db, delivery_id, settings=slow_retries, http=HTTP) == "pending"
    assert hook.received == [], "the lost attempt is counted, not silently repeated"
    [lost] = attempts_of(runtime.db, delivery_id)
    assert (lost.attempt, lost.http_status) == (1, None)
    assert "did not finish" in lost.error
    row = load(runtime.db, WebhookDelivery, delivery_id)
    assert (row.attempts, row.open_attempt_at) == (1, None)
    assert row.next_attempt_at > utcnow() + timedelta(minutes=30)
    assert load(runtime.db, WebhookEndpoint, endpoint_id).failing_since is not None


def test_a_delivery_never_makes_more_than_its_attempt_cap(runtime, settings, endpoint, receiver):
    hook = receiver()
    endpoint_id, _ = endpoint(hook.url())
    _, delivery_id = make_delivery(runtime.db, endpoint_id)
    set_delivery(runtime.db, delivery_id, attempts=max_attempts(settings), next_attempt_at=utcnow())
    assert deliver(runtime.db, delivery_id, settings=settings, http=HTTP) == "failed"
    assert hook.received == []


def test_an_endpoint_at_its_concurrency_limit_waits_without_spending_an_attempt(
    runtime, settings, endpoint, receiver
):
    hook = receiver()
    endpoint_id, _ = endpoint(hook.url())
    user_id = load(runtime.db, WebhookEndpoint, endpoint_id).user_id
    slots = DeliverySlots(runtime.redis, per_endpoint=1, per_user=10, hold_seconds=60)
    _, delivery_id = make_delivery(runtime.db, endpoint_id)

    held = slots.acquire(endpoint_id=endpoint_id, user_id=user_id)
    assert held is not None
    before = utcnow()
    assert deliver(runtime.db, delivery_id, settings=settings, http=HTTP, slots=slots) == "pending"
    assert hook.received == []
    row = load(runtime.db, WebhookDelivery, delivery_id)
    assert row.attempts == 0 and attempts_of(runtime.db, delivery_id) == []
    assert before < row.next_attempt_at < utcnow() + timedelta(seconds=5)

    slots.release(held)
    set_delivery(runtime.db, delivery_id, next_attempt_at=utcnow())
    assert deliver(runtime.db, delivery_id, settings=settings, http=HTTP, slots=slots) == (
        "delivered"
    )
    # The attempt gave its slot back.
    again = slots.acquire(endpoint_id=endpoint_id, user_id=user_id)
    assert again is not None
    slots.release(again)


def test_a_user_at_its_limit_waits_on_every_endpoint_and_holds_expire(
    runtime, settings, make_user, receiver
):
    from shared.webhooks import endpoints

    hook = receiver()
    user = make_user()
    first, second = (
        endpoints.create_endpoint(
            runtime.db, user_id=user.id, url=hook.url(f"/{n}"), events=None, allow_private=True
        )[0].id
        for n in range(2)
    )
    slots = DeliverySlots(runtime.redis, per_endpoint=5, per_user=1, hold_seconds=1.0)
    assert slots.acquire(endpoint_id=first, user_id=user.id) is not None
    _, delivery_id = make_delivery(runtime.db, second)
    assert deliver(runtime.db, delivery_id, settings=settings, http=HTTP, slots=slots) == "pending"
    assert hook.received == []
    # A worker killed while holding a slot frees it when the hold expires.
    wait_for(lambda: slots.acquire(endpoint_id=second, user_id=user.id), what="the hold to expire")

"""One delivery attempt at a time, on real PostgreSQL, against a local receiver.

Deliveries here are made with `next_attempt_at` unset or far off, so a beat sweeper left
running by the end-to-end tests never picks them up: each attempt is the test's own call.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from shared.config import WEBHOOK_RETRY_DELAYS
from shared.db import new_id, utcnow
from shared.formats import iso
from shared.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from shared.webhooks import delivery, endpoints
from shared.webhooks.delivery import canonical_body, deliver, lease_due_deliveries, retry_delay
from shared.webhooks.transport import webhook_session

HTTP = webhook_session(allow_private=True)


def test_retry_delays_grow_jitter_and_end():
    delays = (5.0, 30.0, 120.0)
    assert [retry_delay(n, delays, 0.5) for n in (1, 2, 3, 4)] == [5.0, 30.0, 120.0, None]
    assert retry_delay(1, delays, 0.0) == pytest.approx(4.0)
    assert retry_delay(1, delays, 0.999999) == pytest.approx(6.0)
    assert retry_delay(0, delays, 0.5) is None
    assert retry_delay(1, (), 0.5) is None


def test_default_schedule_spans_about_a_day():
    total = sum(retry_delay(n, WEBHOOK_RETRY_DELAYS, 0.5) or 0 for n in range(1, 12))
    assert timedelta(hours=20) < timedelta(seconds=total) < timedelta(hours=28)
    assert max(WEBHOOK_RETRY_DELAYS) < 24 * 3600


def make_delivery(db, endpoint_id: str) -> tuple[str, str]:
    """Record an event for the endpoint's user and a delivery nobody else will sweep."""
    with db.transaction() as session:
        user_id = session.get(WebhookEndpoint, endpoint_id).user_id
        event_id = new_id("evt")
        payload = {
            "id": event_id,
            "type": "purchase.delivered",
            "created_at": iso(utcnow()),
            "data": {"id": "pur_test", "status": "delivered", "amount": "100.00"},
        }
        session.add(Event(id=event_id, user_id=user_id, type=payload["type"], payload=payload))
        session.flush()
        row = WebhookDelivery(event_id=event_id, endpoint_id=endpoint_id, next_attempt_at=None)
        session.add(row)
        session.flush()
        return event_id, row.id


def make_due(db, delivery_id: str) -> None:
    """Stand in for the clock: the delivery's next attempt is due now."""
    with db.transaction() as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(next_attempt_at=utcnow())
        )


def load(db, model, key):
    with db.sessions() as session:
        return session.get(model, key)


def attempts_of(db, delivery_id: str) -> list[WebhookAttempt]:
    with db.sessions() as session:
        query = select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
        return list(session.scalars(query.order_by(WebhookAttempt.id)))


def test_success_is_signed_with_the_event_id_and_recorded(runtime, settings, endpoint, receiver):
    hook = receiver()
    endpoint_id, secret = endpoint(hook.url())
    hook.secrets = [secret]
    event_id, delivery_id = make_delivery(runtime.db, endpoint_id)

    assert deliver(runtime.db, delivery_id, settings=settings, http=HTTP) == "delivered"

    [got] = hook.received
    assert got.id == event_id
    assert got.headers["content-type"] == "application/json"
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    payload = got.payload(secret)
    assert got.body == canonical_body(payload).encode()
    assert payload == load(runtime.db, Event, event_id).payload
    row = load(runtime.db, WebhookDelivery, delivery_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("delivered", 1, None)
    [attempt] = attempts_of(runtime.db, delivery_id)
    assert (attempt.http_status, attempt.error, attempt.response_excerpt) == (200, None, "ok")
    # Delivered means done: a duplicate task sends nothing.
    assert deliver(runtime.db, delivery_id, settings=settings, http=HTTP) == "delivered"
    assert len(hook.received) == 1


def test_failures_retry_the_same_bytes_then_give_up(runtime, slow_retries, endpoint, receiver):
    hook = receiver(answer=lambda n: (500, 0.0))
    endpoint_id, secret = endpoint(hook.url())
    hook.secrets = [secret]
    _, delivery_id = make_delivery(runtime.db, endpoint_id)

    before = utcnow()
    assert deliver(runtime.db, delivery_id, settings=slow_retries, http=HTTP) == "pending"
    row = load(runtime.db, WebhookDelivery, delivery_id)
    assert before + timedelta(seconds=2880) <= row.next_attempt_at
    assert row.next_attempt_at <= utcnow() + timedelta(seconds=4320)
    assert load(runtime.db, WebhookEndpoint, endpoint_id).failing_since is not None

    make_due(runtime.db, delivery_id)
    assert deliver(runtime.db, delivery_id, settings=slow_retries, http=HTTP) == "failed"
    first, second = hook.received
    assert first.id == second.id and first.body == second.body
    first.payload(secret)
    row = load(runtime.db, WebhookDelivery, delivery_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 2, None)
    assert [a.http_status for a in attempts_of(runtime.db, delivery_id)] == [500, 500]
    assert deliver(runtime.db, delivery_id, settings=slow_retries, http=HTTP) == "failed"
    assert len(hook.received) == 2


def test_redirects_are_failures_and_are_not_followed(runtime, slow_retries, endpoint, receiver):
    hook = receiver(answer=lambda n: (302, 0.0))
    endpoint_id, _ = endpoint(hook.url())
    _, delivery_id = make_delivery(runtime.db, endpoint_id)
    assert deliver(runtime.db, delivery_id, settings=slow_retries, http=HTTP) == "pending"
    assert [r.path for r in hook.received] == ["/hook"]
    assert attempts_of(runtime.db, delivery_id)[0].http_status == 302


def test_gone_disables_the_endpoint_and_later_deliveries_fail_unsent(
    runtime, slow_retries, endpoint, receiver
):
    hook = receiver(answer=lambda n: (410, 0.0))
    endpoint_id, _ = endpoint(hook.url())
    _, first = make_delivery(runtime.db, endpoint_id)
    _, second = make_delivery(runtime.db, endpoint_id)

    assert deliver(runtime.db, first, settings=slow_retries, http=HTTP) == "failed"
    gone = load(runtime.db, WebhookEndpoint, endpoint_id)
    assert (gone.enabled, gone.disabled_reason) == (False, "the endpoint answered 410 Gone")
    assert deliver(runtime.db, second, settings=slow_retries, http=HTTP) == "failed"
    assert len(hook.received) == 1
    assert attempts_of(runtime.db, second) == []


def test_deleted_endpoints_get_nothing(runtime, settings, endpoint, receiver, make_user):
    hook = receiver()
    endpoint_id, _ = endpoint(hook.url())
    _, delivery_id = make_delivery(runtime.db, endpoint_id)
    user_id = load(runtime.db, WebhookEndpoint, endpoint_id).user_id
    endpoints.delete_endpoint(runtime.db, user_id=user_id, endpoint_id=endpoint_id)
    assert deliver(runtime.db, delivery_id, settings=settings, http=HTTP) == "failed"
    assert hook.received == []


def test_failing_for_three_days_disables_and_success_clears(
    runtime, slow_retries, endpoint, receiver
):
    outcomes = iter([200, 500])
    hook = receiver(answer=lambda n: (next(outcomes), 0.0))
    endpoint_id, _ = endpoint(hook.url())
    with runtime.db.transaction() as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(failing_since=utcnow() - timedelta(days=2))
        )
    _, delivery_id = make_delivery(runtime.db, endpoint_id)
    assert deliver(runtime.db, delivery_id, settings=slow_retries, http=HTTP) == "delivered"
    assert load(runtime.db, WebhookEndpoint, endpoint_id).failing_since is None

    with runtime.db.transaction() as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(failing_since=utcnow() - timedelta(days=3, minutes=1))
        )
    _, delivery_id = make_delivery(runtime.db, endpoint_id)
    assert deliver(runtime.db, delivery_id, settings=slow_retries, http=HTTP) == "pending"
    disabled = load(runtime.db, WebhookEndpoint, endpoint_id)
    assert disabled.enabled is False
    assert disabled.disabled_reason == "every attempt failed for more than 3 days"


def test_every_delivery_runs_the_ssrf_guard_again(runtime, slow_retries, make_user, receiver):
    hook = receiver()
    answers = {"hooks.example.test": ["93.184.216.34"]}

    def resolver(host: str, port: int) -> list[str]:
        return answers[host]

    user = make_user()
    made, _ = endpoints.create_endpoint(
        runtime.db,
        user_id=user.id,
        url=f"https://hooks.example.test:{hook.port}/hook",
        events=None,
        allow_private=False,
        resolver=resolver,
    )
    _, delivery_id = make_delivery(runtime.db, made.id)
    # DNS rebinding: the name was public at registration and points inside at delivery.
    answers["hooks.example.test"] = ["127.0.0.1"]
    strict = webhook_session(allow_private=False, resolver=resolver)
    assert deliver(runtime.db, delivery_id, settings=slow_retries, http=strict) == "pending"
    assert hook.received == []
    [attempt] = attempts_of(runtime.db, delivery_id)
    assert attempt.http_status is None
    assert attempt.error == (
        "not sent: the host 'hooks.example.test' resolves to a non-public address"
    )


def test_rotation_signs_with_both_secrets_until_the_old_one_expires(
    runtime, settings, endpoint, receiver
):
    hook = receiver()
    endpoint_id, old = endpoint(hook.url())
    user_id = load(runtime.db, WebhookEndpoint, endpoint_id).user_id
    _, new = endpoints.rotate_secret(runtime.db, user_id=user_id, endpoint_id=endpoint_id)
    hook.secrets = [old, new]
    _, delivery_id = make_delivery(runtime.db, endpoint_id)
    deliver(runtime.db, delivery_id, settings=settings, http=HTTP)
    [got] = hook.received
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert got.payload(old) == got.payload(new)

    with runtime.db.transaction() as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(previous_secret_expires_at=utcnow() - timedelta(seconds=1))
        )
    _, delivery_id = make_delivery(runtime.db, endpoint_id)
    deliver(runtime.db, delivery_id, settings=settings, http=HTTP)
    latest = hook.received[-1]
    assert len(latest.headers["webhook-signature"].split(" ")) == 1
    latest.payload(new)
    assert not isinstance(latest.verified[old], dict)


def test_a_duplicate_message_sends_nothing_before_the_delivery_is_due(
    runtime, slow_retries, endpoint, receiver
):
    hook = receiver(answer=lambda n: (500, 0.0))
    endpoint_id, _ = endpoint(hook.url())
    _, delivery_id = make_delivery(runtime.db, endpoint_id)
    assert deliver(runtime.db, delivery_id, settings=slow_retries, http=HTTP) == "pending"
    # The retry is an hour away: a redelivered or republished message must not jump it.
    assert deliver(runtime.db, delivery_id, settings=slow_retries, http=HTTP) == "pending"
    assert len(hook.received) == 1
    assert load(runtime.db, WebhookDelivery, delivery_id).attempts == 1

    # While an attempt is in flight its claim holds the row past the publish lease.
    with runtime.db.transaction() as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(next_attempt_at=utcnow() + delivery.attempt_budget(slow_retries))
        )
    assert deliver(runtime.db, delivery_id, settings=slow_retries, http=HTTP) == "pending"
    assert len(hook.received) == 1


def test_a_claim_holds_the_delivery_for_the_attempt(runtime, settings, endpoint, receiver):
    seen = []

    def answer(n: int) -> tuple[int, float]:
        with runtime.db.sessions() as session:
            seen.append(session.get(WebhookDelivery, delivery_id).next_attempt_at)
        return 200, 0.0

    hook = receiver(answer=answer)
    endpoint_id, _ = endpoint(hook.url())
    _, delivery_id = make_delivery(runtime.db, endpoint_id)
    before = utcnow()
    deliver(runtime.db, delivery_id, settings=settings, http=HTTP)
    hold = timedelta(seconds=settings.publish_lease_s) + delivery.attempt_budget(settings)
    assert len(hook.received) == 1
    assert before + hold <= seen[0] <= utcnow() + hold


def test_due_deliveries_are_leased_once(runtime, endpoint):
    endpoint_id, _ = endpoint("http://127.0.0.1:9/hook")
    _, delivery_id = make_delivery(runtime.db, endpoint_id)
    # Due only in a far future, so a beat sweeper running in real time never sees it.
    later = utcnow() + timedelta(days=30)
    with runtime.db.transaction() as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(next_attempt_at=later)
        )
    lease = timedelta(seconds=2)
    early = later - timedelta(seconds=1)
    assert delivery_id not in lease_due_deliveries(runtime.db, lease=lease, now=early)
    assert delivery_id in lease_due_deliveries(runtime.db, lease=lease, now=later)
    assert delivery_id not in lease_due_deliveries(runtime.db, lease=lease, now=later)
    row = load(runtime.db, WebhookDelivery, delivery_id)
    assert row.next_attempt_at == later + lease
    with runtime.db.sessions() as session:
        count = session.scalar(
            select(func.count())
            .select_from(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
        )
    assert count == 0, "leasing only schedules; the task makes the attempt"

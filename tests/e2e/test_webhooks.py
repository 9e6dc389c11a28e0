"""Webhooks end to end: purchase -> outbox -> beat sweeper -> Celery worker -> a local receiver.

The receiver runs in this process on 127.0.0.1 and checks every request's Standard Webhooks
signature. Retries are scaled down by the test settings (0.2 s, 0.5 s, 1 s).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from shared.models import WebhookDelivery
from tests.receiver import free_port
from tests.support import wait_for

SUCCESS, FAILURE = "08011111111", "08031234567"


@pytest.fixture
def customer(make_user, fund):
    user = make_user()
    fund(user, "5000")
    return user


def register(client, user, url: str, **body) -> dict:
    response = client.post(
        "/api/v1/webhook-endpoints", json={"url": url, **body}, headers=user.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def attempts(client, user, endpoint_id: str) -> list[dict]:
    path = f"/api/v1/webhook-endpoints/{endpoint_id}/attempts?limit=100"
    return client.get(path, headers=user.headers).get_json()["data"]


def purchase(buy, settle, user, phone: str = SUCCESS) -> dict:
    accepted = buy(user, service_id="mtn", phone=phone, amount=100)
    assert accepted.status_code == 202, accepted.get_json()
    return settle(user, accepted.get_json()["id"])


def test_delivered_purchase_arrives_signed(client, customer, buy, settle, receiver, ledger_ok):
    hook = receiver()
    endpoint = register(client, customer, hook.url())
    hook.secrets = [endpoint["secret"]]
    done = purchase(buy, settle, customer)
    assert done["status"] == "delivered"

    [got] = wait_for(lambda: hook.received, what="the webhook")
    payload = got.payload(endpoint["secret"])
    assert payload["type"] == "purchase.delivered"
    assert got.id == payload["id"]
    assert payload["data"]["id"] == done["id"]
    assert payload["data"]["status"] == "delivered"
    assert [h["status"] for h in payload["data"]["history"]] == [
        "queued",
        "processing",
        "delivered",
    ]
    [event] = client.get("/api/v1/events", headers=customer.headers).get_json()["data"]
    assert event == payload
    [attempt] = wait_for(lambda: attempts(client, customer, endpoint["id"]), what="the attempt")
    assert (attempt["event_id"], attempt["http_status"], attempt["succeeded"]) == (
        event["id"],
        200,
        True,
    )
    ledger_ok()


def test_failing_receiver_gets_the_same_id_until_it_accepts(
    client, customer, buy, settle, receiver
):
    hook = receiver(answer=lambda n: (500, 0.0) if n < 2 else (200, 0.0))
    endpoint = register(client, customer, hook.url())
    hook.secrets = [endpoint["secret"]]
    purchase(buy, settle, customer)

    def three_attempts():
        found = attempts(client, customer, endpoint["id"])
        return found if len(found) == 3 else None

    found = wait_for(three_attempts, timeout=20, what="three attempts")
    assert [a["http_status"] for a in found] == [200, 500, 500]
    assert [a["attempt"] for a in found] == [3, 2, 1]
    assert [a["succeeded"] for a in found] == [True, False, False]
    assert len(hook.received) == 3
    assert len({r.id for r in hook.received}) == 1
    assert len({r.body for r in hook.received}) == 1
    for r in hook.received:
        r.payload(endpoint["secret"])


def test_receiver_down_then_up_gets_everything(client, customer, buy, settle, receiver):
    port = free_port()
    endpoint = register(client, customer, f"http://127.0.0.1:{port}/hook")
    accepted = [
        buy(customer, service_id="mtn", phone=SUCCESS, amount=100).get_json()["id"]
        for _ in range(3)
    ]
    for purchase_id in accepted:
        settle(customer, purchase_id)

    def every_event_failed_once():
        failed = {a["event_id"] for a in attempts(client, customer, endpoint["id"]) if a["error"]}
        return failed if len(failed) == 3 else None

    wait_for(every_event_failed_once, timeout=10, what="a refused attempt per event")
    hook = receiver(port=port, secrets=[endpoint["secret"]])

    def all_received():
        ids = {r.payload(endpoint["secret"])["data"]["id"] for r in hook.received}
        return ids if ids == set(accepted) else None

    wait_for(all_received, timeout=20, what="every purchase's webhook")
    refused = [a for a in attempts(client, customer, endpoint["id"]) if not a["succeeded"]]
    assert all(a["http_status"] is None and "Connection" in a["error"] for a in refused)


def test_slow_receiver_does_not_slow_purchases(client, customer, buy, settle, receiver):
    hook = receiver(answer=lambda n: (200, 5.0))
    endpoints = [register(client, customer, hook.url(f"/slow/{i}")) for i in range(8)]
    secret_at = {f"/slow/{i}": e["secret"] for i, e in enumerate(endpoints)}
    hook.secrets = list(secret_at.values())
    first = purchase(buy, settle, customer)
    wait_for(lambda: hook.in_flight == 8, timeout=10, what="8 deliveries hanging")

    started = time.monotonic()
    second = purchase(buy, settle, customer)
    took = time.monotonic() - started
    assert second["status"] == "delivered"
    assert took < 3.0, f"a purchase took {took:.1f}s while webhooks hung"
    assert hook.in_flight >= 8, "the slow deliveries were still hanging"

    def first_event_delivered_everywhere():
        done = [
            a
            for e in endpoints
            for a in attempts(client, customer, e["id"])
            if a["succeeded"] and a["latency_ms"] >= 5000
        ]
        return done if len(done) >= 8 else None

    wait_for(first_event_delivered_everywhere, timeout=20, what="the slow deliveries")
    first_ids = [r.payload(secret_at[r.path])["data"]["id"] for r in hook.received[:8]]
    assert first_ids == [first["id"]] * 8


def test_event_filter_is_respected(client, customer, buy, settle, receiver, runtime):
    hook = receiver()
    failures = register(client, customer, hook.url("/failures"), events=["purchase.failed"])
    successes = register(client, customer, hook.url("/successes"), events=["purchase.delivered"])
    everything = register(client, customer, hook.url("/everything"))
    hook.secrets = [failures["secret"], successes["secret"], everything["secret"]]
    assert purchase(buy, settle, customer, SUCCESS)["status"] == "delivered"
    assert purchase(buy, settle, customer, FAILURE)["status"] == "failed"

    def types(path: str, secret: str) -> list[str]:
        return sorted(r.payload(secret)["type"] for r in hook.by_path(path))

    wait_for(lambda: len(hook.by_path("/everything")) == 2, what="both events at /everything")
    wait_for(lambda: hook.by_path("/failures") and hook.by_path("/successes"), what="filtered")
    assert types("/everything", everything["secret"]) == ["purchase.delivered", "purchase.failed"]
    assert types("/failures", failures["secret"]) == ["purchase.failed"]
    assert types("/successes", successes["secret"]) == ["purchase.delivered"]
    with runtime.db.sessions() as session:
        for endpoint in (failures, successes):
            count = session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == endpoint["id"])
            )
            assert count == 1


def test_rotated_secret_signs_alongside_the_old_one(client, customer, buy, settle, receiver):
    hook = receiver()
    endpoint = register(client, customer, hook.url())
    path = f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret"
    rotated = client.post(path, headers=customer.headers).get_json()
    old, new = endpoint["secret"], rotated["secret"]
    hook.secrets = [old, new]
    purchase(buy, settle, customer)

    [got] = wait_for(lambda: hook.received, what="the webhook")
    assert got.payload(old) == got.payload(new)
    signatures = got.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    for signature, secret in zip(signatures, (new, old), strict=True):
        Webhook(secret).verify(got.body, {**got.headers, "webhook-signature": signature})

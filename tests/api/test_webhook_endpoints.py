"""Webhook endpoints and events over the API; the outbox written by status changes.

Status changes are made with `transition()` directly, as a worker would, on purchases that
no worker or sweeper will touch (never published, nothing due), and the deliveries they
create are checked in the database.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from shared import ledger
from shared.db import utcnow
from shared.models import Event, Purchase, StatusChange, WebhookDelivery, WebhookEndpoint
from shared.purchases.states import PurchaseStatus as S
from shared.purchases.states import transition
from shared.vtpass import mint_request_id
from shared.webhooks.events import redeliver_event

BASE = "/api/v1/webhook-endpoints"
HOOK = "http://127.0.0.1:9/hook"


def error(response):
    return response.get_json()["error"]


def register(client, user, url=HOOK, **body):
    response = client.post(BASE, json={"url": url, **body}, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def queued_purchase(runtime, user) -> str:
    """Accept a purchase with its funds held that nothing will publish or sweep."""
    with runtime.db.transaction() as session:
        purchase = Purchase(
            user_id=user.id,
            category="airtime",
            service_id="mtn",
            amount=Decimal("50"),
            phone="08011111111",
            request_id=mint_request_id(utcnow()),
            next_attempt_at=None,
        )
        session.add(purchase)
        session.flush()
        ledger.hold(
            session, user_id=user.id, purchase_id=purchase.id, amount=purchase.amount, actor="test"
        )
        session.add(StatusChange(purchase_id=purchase.id, status="queued", reason="test"))
        return purchase.id


def move(runtime, purchase_id: str, to: S, expected: S) -> None:
    """Change a purchase's status the way a worker would."""
    with runtime.db.transaction() as session:
        purchase = session.get(Purchase, purchase_id)
        assert transition(session, purchase, to, expected=expected, reason="test", actor="test")


@pytest.fixture
def funded(make_user, fund):
    user = make_user()
    fund(user, "1000")
    return user


@pytest.fixture
def failed_purchases(funded, runtime):
    """Three purchases that failed, newest last, and their owner."""
    ids = []
    for _ in range(3):
        ids.append(queued_purchase(runtime, funded))
        move(runtime, ids[-1], S.FAILED, expected=S.QUEUED)
    return funded, ids


def test_register_shows_the_secret_once(client, make_user):
    user = make_user()
    response = client.post(BASE, json={"url": HOOK}, headers=user.headers)
    assert response.status_code == 201
    created = response.get_json()
    assert response.headers["Location"] == f"{BASE}/{created['id']}"
    assert created["id"].startswith("whe_")
    assert (created["url"], created["events"], created["enabled"]) == (HOOK, None, True)
    assert created["created_at"].endswith("Z")
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"][len("whsec_") :])) == 32

    listing = client.get(BASE, headers=user.headers)
    assert [e["id"] for e in listing.get_json()["data"]] == [created["id"]]
    one = client.get(f"{BASE}/{created['id']}", headers=user.headers)
    for response in (listing, one):
        assert "secret" not in response.get_data(as_text=True)
        assert created["secret"] not in response.get_data(as_text=True)


def test_event_filter_is_kept_without_duplicates(client, make_user):
    user = make_user()
    created = register(client, user, events=["purchase.failed", "purchase.failed"])
    assert created["events"] == ["purchase.failed"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": HOOK, "events": ["purchase.shipped"]}, "events"),
        ({"url": HOOK, "events": ["purchase.delivered", "wallet.credited"]}, "events"),
        ({"url": HOOK, "events": []}, "events"),
        ({"url": HOOK, "events": "purchase.delivered"}, "events"),
        ({"events": ["purchase.delivered"]}, "url"),
        ({"url": ""}, "url"),
        ({"url": 42}, "url"),
        ({"url": "ftp://127.0.0.1/hook"}, "url"),
        ({"url": "http://user:secret@127.0.0.1/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": HOOK, "colour": "red"}, "colour"),
    ],
)
def test_bad_registrations_are_field_errors(client, make_user, body, field):
    user = make_user()
    response = client.post(BASE, json=body, headers=user.headers)
    assert response.status_code == 422, response.get_json()
    assert error(response)["code"] == "validation_error"
    assert field in error(response)["fields"]
    assert client.get(BASE, headers=user.headers).get_json()["data"] == []


def test_unknown_event_names_are_reported(client, make_user):
    user = make_user()
    response = client.post(BASE, json={"url": HOOK, "events": ["purchase.x"]}, headers=user.headers)
    assert "purchase.x" in error(response)["fields"]["events"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://93.184.216.34/hook", "must use https"),
        ("https://127.0.0.1/hook", "non-public"),
        ("https://10.0.0.8/hook", "non-public"),
        ("https://169.254.169.254/latest/meta-data/", "non-public"),
        ("https://100.64.0.1/hook", "non-public"),
        ("https://[::1]/hook", "non-public"),
        ("https://[::ffff:192.168.0.1]/hook", "non-public"),
        ("https://0.0.0.0/hook", "non-public"),
        ("https://user:pw@93.184.216.34/hook", "credentials"),
    ],
)
def test_production_refuses_private_and_plain_http_urls(
    client, make_user, runtime, monkeypatch, url, problem
):
    monkeypatch.setattr(
        runtime, "settings", runtime.settings.with_overrides(webhook_allow_private=False)
    )
    user = make_user()
    response = client.post(BASE, json={"url": url}, headers=user.headers)
    assert response.status_code == 422, response.get_json()
    assert problem in error(response)["fields"]["url"]


def test_production_accepts_https_to_a_public_address(client, make_user, runtime, monkeypatch):
    monkeypatch.setattr(
        runtime, "settings", runtime.settings.with_overrides(webhook_allow_private=False)
    )
    user = make_user()
    assert register(client, user, url="https://93.184.216.34/hook")["enabled"] is True


def test_another_users_endpoint_is_not_found(client, make_user):
    owner, stranger = make_user(), make_user()
    endpoint_id = register(client, owner)["id"]
    for method, path in [
        ("get", ""),
        ("delete", ""),
        ("post", "/rotate-secret"),
        ("post", "/enable"),
        ("get", "/attempts"),
    ]:
        response = getattr(client, method)(f"{BASE}/{endpoint_id}{path}", headers=stranger.headers)
        assert (response.status_code, error(response)["code"]) == (404, "not_found"), path
    assert client.get(BASE, headers=stranger.headers).get_json()["data"] == []
    assert client.get(f"{BASE}/{endpoint_id}", headers=owner.headers).status_code == 200


def test_delete_removes_the_endpoint(client, make_user, runtime):
    user = make_user()
    endpoint_id = register(client, user)["id"]
    response = client.delete(f"{BASE}/{endpoint_id}", headers=user.headers)
    assert (response.status_code, response.get_data()) == (204, b"")
    assert client.get(BASE, headers=user.headers).get_json()["data"] == []
    assert client.get(f"{BASE}/{endpoint_id}", headers=user.headers).status_code == 404
    assert client.delete(f"{BASE}/{endpoint_id}", headers=user.headers).status_code == 404
    with runtime.db.sessions() as session:
        assert session.get(WebhookEndpoint, endpoint_id).deleted_at is not None


def test_rotate_secret_keeps_the_old_one_for_a_day(client, make_user, runtime):
    user = make_user()
    created = register(client, user)
    response = client.post(f"{BASE}/{created['id']}/rotate-secret", headers=user.headers)
    assert response.status_code == 200
    rotated = response.get_json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    expires = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    assert abs(expires - (utcnow() + timedelta(hours=24))) < timedelta(minutes=1)
    with runtime.db.sessions() as session:
        endpoint = session.get(WebhookEndpoint, created["id"])
        assert (endpoint.secret, endpoint.previous_secret) == (rotated["secret"], created["secret"])


def test_enable_brings_back_a_disabled_endpoint(client, make_user, runtime):
    user = make_user()
    endpoint_id = register(client, user)["id"]
    with runtime.db.transaction() as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(
                enabled=False,
                disabled_reason="the endpoint answered 410 Gone",
                failing_since=utcnow(),
            )
        )
    shown = client.get(f"{BASE}/{endpoint_id}", headers=user.headers).get_json()
    assert (shown["enabled"], shown["disabled_reason"]) == (False, "the endpoint answered 410 Gone")
    response = client.post(f"{BASE}/{endpoint_id}/enable", headers=user.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["enabled"], body["disabled_reason"], body["failing_since"]) == (True, None, None)


def test_attempts_start_empty_and_check_the_limit(client, make_user):
    user = make_user()
    endpoint_id = register(client, user)["id"]
    assert client.get(f"{BASE}/{endpoint_id}/attempts", headers=user.headers).get_json() == {
        "data": []
    }
    response = client.get(f"{BASE}/{endpoint_id}/attempts?limit=0", headers=user.headers)
    assert (response.status_code, list(error(response)["fields"])) == (422, ["limit"])


def test_endpoints_and_events_need_a_token(client):
    for method, path in [("get", BASE), ("post", BASE), ("get", "/api/v1/events")]:
        response = getattr(client, method)(path)
        assert (response.status_code, error(response)["code"]) == (401, "token_missing")


def test_status_changes_record_events_with_the_new_history(client, failed_purchases):
    user, ids = failed_purchases
    response = client.get("/api/v1/events", headers=user.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["has_more"] is False
    assert [e["data"]["id"] for e in body["data"]] == ids[::-1]
    event = body["data"][0]
    assert set(event) == {"id", "type", "created_at", "data"}
    assert event["id"].startswith("evt_") and event["type"] == "purchase.failed"
    assert event["data"]["status"] == "failed"
    assert [h["status"] for h in event["data"]["history"]] == ["queued", "failed"]
    assert (
        event["data"] == client.get(f"/api/v1/purchases/{ids[-1]}", headers=user.headers).get_json()
    )


def test_events_page_newest_first_and_filter_by_type(client, failed_purchases, make_user):
    user, ids = failed_purchases
    first = client.get("/api/v1/events?limit=2", headers=user.headers).get_json()
    assert [e["data"]["id"] for e in first["data"]] == [ids[2], ids[1]]
    assert first["has_more"] is True
    cursor = first["data"][-1]["id"]
    rest = client.get(f"/api/v1/events?limit=2&starting_after={cursor}", headers=user.headers)
    assert [e["data"]["id"] for e in rest.get_json()["data"]] == [ids[0]]
    assert rest.get_json()["has_more"] is False
    none = client.get("/api/v1/events?type=purchase.delivered", headers=user.headers).get_json()
    assert none == {"data": [], "has_more": False}
    only = client.get("/api/v1/events?type=purchase.failed", headers=user.headers).get_json()
    assert len(only["data"]) == 3
    bad = client.get("/api/v1/events?type=purchase.shipped", headers=user.headers)
    assert (bad.status_code, list(error(bad)["fields"])) == (422, ["type"])
    stranger = make_user()
    assert client.get("/api/v1/events", headers=stranger.headers).get_json()["data"] == []


def test_only_the_five_statuses_make_events(client, funded, runtime, ledger_ok):
    purchase_id = queued_purchase(runtime, funded)
    move(runtime, purchase_id, S.PROCESSING, expected=S.QUEUED)
    assert client.get("/api/v1/events", headers=funded.headers).get_json()["data"] == []
    move(runtime, purchase_id, S.PENDING, expected=S.PROCESSING)
    move(runtime, purchase_id, S.DELIVERED, expected=S.PENDING)
    events = client.get("/api/v1/events", headers=funded.headers).get_json()["data"]
    assert [e["type"] for e in events] == ["purchase.delivered", "purchase.pending"]
    assert [h["status"] for h in events[0]["data"]["history"]] == [
        "queued", "processing", "pending", "delivered",
    ]  # fmt: skip
    # The payload is the purchase as stored: every history line, its reason and time.
    stored = client.get(f"/api/v1/purchases/{purchase_id}", headers=funded.headers).get_json()
    assert events[0]["data"] == stored
    ledger_ok()


def test_events_are_queued_for_subscribed_live_endpoints_only(client, funded, runtime, ledger_ok):
    everything = register(client, funded)["id"]
    failures = register(client, funded, events=["purchase.failed"])["id"]
    deliveries_only = register(client, funded, events=["purchase.delivered"])["id"]
    disabled = register(client, funded)["id"]
    deleted = register(client, funded)["id"]
    client.delete(f"{BASE}/{deleted}", headers=funded.headers)
    with runtime.db.transaction() as session:
        session.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == disabled).values(enabled=False)
        )
    purchase_id = queued_purchase(runtime, funded)
    before = utcnow()
    # Looked at before commit, in the status change's own transaction: no sweeper sees it yet.
    with runtime.db.transaction() as session:
        purchase = session.get(Purchase, purchase_id)
        assert transition(session, purchase, S.FAILED, reason="test", actor="test")
        rows = session.scalars(
            select(WebhookDelivery)
            .join(Event, Event.id == WebhookDelivery.event_id)
            .where(Event.purchase_id == purchase_id)
        ).all()
        assert sorted(r.endpoint_id for r in rows) == sorted([everything, failures])
        assert not {deliveries_only, disabled, deleted} & {r.endpoint_id for r in rows}
        for row in rows:
            assert (row.status, row.attempts) == ("pending", 0)
            assert before <= row.next_attempt_at <= utcnow()
    ledger_ok()


def test_redeliver_starts_every_subscribed_delivery_over(failed_purchases, runtime, client):
    user, purchase_ids = failed_purchases
    added = register(client, user, events=["purchase.failed"])["id"]
    register(client, user, events=["purchase.reversed"])
    with runtime.db.sessions() as session:
        event_id = session.scalar(select(Event.id).where(Event.purchase_id == purchase_ids[0]))
    # Due only in a far future, so a beat sweeper running in real time leaves the rows alone.
    later = utcnow() + timedelta(days=30)

    assert redeliver_event(runtime.db, user_id=user.id, event_id=event_id, now=later) == [added]
    with runtime.db.transaction() as session:
        [row] = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_id == event_id)
        ).all()
        assert (row.endpoint_id, row.status, row.attempts, row.next_attempt_at) == (
            added, "pending", 0, later,
        )  # fmt: skip
        row.status, row.attempts, row.next_attempt_at = "failed", 4, None

    # After the schedule ran out: the same row starts over.
    redeliver_event(runtime.db, user_id=user.id, event_id=event_id, now=later)
    with runtime.db.sessions() as session:
        again = session.get(WebhookDelivery, row.id)
        assert (again.status, again.attempts, again.next_attempt_at) == ("pending", 0, later)


def test_redeliver_answers_202_for_the_owner_only(client, failed_purchases, make_user):
    user, _ = failed_purchases
    event = client.get("/api/v1/events?limit=1", headers=user.headers).get_json()["data"][0]
    added = register(client, user, events=["purchase.failed"])["id"]

    response = client.post(f"/api/v1/events/{event['id']}/redeliver", headers=user.headers)
    assert response.status_code == 202
    assert response.get_json() == {"id": event["id"], "endpoints": [added]}
    stranger = make_user()
    for event_id in (event["id"], "evt_nope"):
        response = client.post(f"/api/v1/events/{event_id}/redeliver", headers=stranger.headers)
        assert (response.status_code, error(response)["code"]) == (404, "not_found")

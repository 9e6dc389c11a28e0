"""Accepting purchases: validation, funds held with the row, idempotency, listing."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest


def error(response):
    return response.get_json()["error"]


@pytest.fixture
def funded(make_user, fund):
    user = make_user()
    fund(user, "1000")
    return user


def test_airtime_is_accepted_with_funds_held(client, funded, buy, ledger_ok):
    response = buy(funded, service_id="mtn", phone="+234 801 111 1111", amount=100)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/purchases/{body['id']}"
    assert body["status"] in ("queued", "processing", "pending", "delivered")
    assert body["amount"] == "100.00"
    assert body["phone"] == "08011111111"
    assert body["category"] == "airtime"
    assert len(body["request_id"]) >= 12 and body["request_id"][:12].isdigit()
    assert body["history"][0]["status"] == "queued"
    wallet = client.get("/api/v1/wallet", headers=funded.headers).get_json()
    assert wallet["currency"] == "NGN"
    assert float(wallet["available"]) + float(wallet["held"]) <= 1000
    ledger_ok()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "08011111111", "amount": 100}, "service_id"),
        ({"service_id": "mtn", "amount": 100}, "phone"),
        ({"service_id": "nope", "phone": "08011111111", "amount": 100}, "service_id"),
        ({"service_id": "mtn", "phone": "08011111111"}, "amount"),
        ({"service_id": "mtn", "phone": "08011111111", "amount": -5}, "amount"),
        ({"service_id": "mtn", "phone": "08011111111", "amount": "ten"}, "amount"),
        ({"service_id": "mtn", "phone": "08011111111", "amount": 10.555}, "amount"),
        ({"service_id": "mtn", "phone": "08011111111", "amount": True}, "amount"),
        ({"service_id": "mtn", "phone": "12345", "amount": 100}, "phone"),
        ({"service_id": "mtn", "phone": 8011111111, "amount": 100}, "phone"),
        ({"service_id": "mtn", "phone": "08011111111", "amount": 100, "colour": "red"}, "colour"),
        ({"service_id": "mtn", "phone": "08011111111", "amount": 10}, "amount"),
        ({"service_id": "mtn", "phone": "08011111111", "amount": 10_000_000}, "amount"),
        ({"service_id": ["mtn"], "phone": "08011111111", "amount": 100}, "service_id"),
    ],
)
def test_bad_purchase_input_is_a_field_error(client, funded, buy, body, field, ledger_ok):
    response = buy(funded, **body)
    assert response.status_code == 422, response.get_json()
    assert error(response)["code"] == "validation_error"
    assert field in error(response)["fields"]
    wallet = client.get("/api/v1/wallet", headers=funded.headers).get_json()
    assert wallet == {"currency": "NGN", "available": "1000.00", "held": "0.00"}
    ledger_ok()


def test_non_json_body_and_missing_key(client, funded):
    headers = {**funded.headers, "Idempotency-Key": "k1"}
    response = client.post("/api/v1/purchases", data="amount=5", headers=headers)
    assert (response.status_code, error(response)["code"]) == (400, "invalid_json")
    response = client.post("/api/v1/purchases", json={}, headers=funded.headers)
    assert (response.status_code, error(response)["code"]) == (400, "idempotency_key_required")
    long_key = {**funded.headers, "Idempotency-Key": "k" * 256}
    response = client.post("/api/v1/purchases", json={}, headers=long_key)
    assert (response.status_code, error(response)["code"]) == (400, "idempotency_key_required")


def test_payload_too_large(client, funded):
    headers = {**funded.headers, "Idempotency-Key": "big"}
    response = client.post(
        "/api/v1/purchases",
        data="x" * (70 * 1024),
        headers=headers,
        content_type="application/json",
    )
    assert (response.status_code, error(response)["code"]) == (413, "payload_too_large")


def test_requires_a_token(client):
    response = client.post("/api/v1/purchases", json={}, headers={"Idempotency-Key": "x"})
    assert (response.status_code, error(response)["code"]) == (401, "token_missing")


def test_insufficient_funds_holds_nothing(client, make_user, buy, ledger_ok):
    poor = make_user()
    response = buy(poor, service_id="mtn", phone="08011111111", amount=100)
    assert (response.status_code, error(response)["code"]) == (402, "insufficient_funds")
    listing = client.get("/api/v1/purchases", headers=poor.headers).get_json()
    assert listing == {"data": [], "has_more": False}
    ledger_ok()


def test_same_key_same_body_replays_the_first_response(client, funded, buy):
    key = uuid.uuid4().hex
    first = buy(funded, key, service_id="mtn", phone="08011111111", amount=100)
    again = buy(funded, key, amount=100, phone="08011111111", service_id="mtn")
    assert again.status_code == first.status_code == 202
    assert again.get_json() == first.get_json()
    wallet = client.get("/api/v1/wallet", headers=funded.headers).get_json()
    assert float(wallet["available"]) == 900


def test_same_key_different_body_is_refused(funded, buy):
    key = uuid.uuid4().hex
    assert buy(funded, key, service_id="mtn", phone="08011111111", amount=100).status_code == 202
    other = buy(funded, key, service_id="mtn", phone="08011111111", amount=200)
    assert (other.status_code, error(other)["code"]) == (422, "idempotency_key_reused")


def test_keys_are_per_user(funded, make_user, fund, buy):
    other = make_user()
    fund(other, "500")
    key = uuid.uuid4().hex
    assert buy(funded, key, service_id="mtn", phone="08011111111", amount=100).status_code == 202
    assert buy(other, key, service_id="mtn", phone="08011111111", amount=100).status_code == 202


def test_validation_error_does_not_burn_the_key(funded, buy):
    key = uuid.uuid4().hex
    assert buy(funded, key, service_id="mtn", phone="bad", amount=100).status_code == 422
    assert buy(funded, key, service_id="mtn", phone="08011111111", amount=100).status_code == 202


def test_concurrent_duplicates_make_one_purchase(app, funded, ledger_ok):
    key = uuid.uuid4().hex
    headers = {**funded.headers, "Idempotency-Key": key}
    body = {"service_id": "mtn", "phone": "08011111111", "amount": 50}

    def post(_):
        return app.test_client().post("/api/v1/purchases", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=30) as pool:
        responses = list(pool.map(post, range(30)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {202, 409}, statuses
    ids = {r.get_json()["id"] for r in responses if r.status_code == 202}
    assert len(ids) == 1
    for r in responses:
        if r.status_code == 409:
            assert error(r)["code"] == "idempotency_in_progress"
    listing = app.test_client().get("/api/v1/purchases", headers=funded.headers).get_json()
    assert len(listing["data"]) == 1
    ledger_ok()


def test_other_users_purchase_is_not_found(client, funded, make_user, buy):
    purchase = buy(funded, service_id="mtn", phone="08011111111", amount=100).get_json()
    stranger = make_user()
    response = client.get(f"/api/v1/purchases/{purchase['id']}", headers=stranger.headers)
    assert (response.status_code, error(response)["code"]) == (404, "not_found")
    assert (
        client.get(f"/api/v1/purchases/{purchase['id']}", headers=funded.headers).status_code == 200
    )


def test_list_is_newest_first_with_cursor(client, funded, buy):
    ids = [
        buy(funded, service_id="mtn", phone="08011111111", amount=50).get_json()["id"]
        for _ in range(5)
    ]
    page = client.get("/api/v1/purchases?limit=2", headers=funded.headers).get_json()
    assert [p["id"] for p in page["data"]] == ids[::-1][:2] and page["has_more"]
    rest = client.get(
        f"/api/v1/purchases?limit=10&starting_after={page['data'][-1]['id']}",
        headers=funded.headers,
    ).get_json()
    assert [p["id"] for p in rest["data"]] == ids[::-1][2:] and not rest["has_more"]
    for bad in ("limit=0", "limit=101", "limit=x", "status=nope", "category=food"):
        response = client.get(f"/api/v1/purchases?{bad}", headers=funded.headers)
        assert response.status_code == 422, bad


def test_an_accepted_purchase_is_stored_as_its_answer_shows_it(client, funded, buy, runtime):
    """The accept writes the row with Core statements: what it answered is what is stored, and
    an unknown receipt or error is SQL NULL (never JSON null)."""
    from sqlalchemy import text

    body = buy(funded, service_id="mtn", phone="08011111111", amount=100).get_json()
    with runtime.db.sessions() as session:
        stored = session.execute(
            text(
                "SELECT user_id, amount, request_id, category, service_id, created_at,"
                " superseded_request_ids, jsonb_typeof(receipt) AS receipt_json,"
                " jsonb_typeof(error) AS error_json FROM purchases WHERE id = :id"
            ),
            {"id": body["id"]},
        ).one()
        history = session.execute(
            text(
                "SELECT status, reason FROM purchase_status_history WHERE purchase_id = :id"
                " ORDER BY id LIMIT 1"
            ),
            {"id": body["id"]},
        ).one()
    assert stored.user_id == funded.id
    assert (str(stored.amount), stored.request_id) == ("100.00", body["request_id"])
    assert (stored.category, stored.service_id) == (body["category"], body["service_id"])
    assert stored.created_at.isoformat().startswith(body["created_at"][:19])
    assert stored.superseded_request_ids == []
    assert stored.receipt_json != "null" and stored.error_json != "null"
    assert (history.status, history.reason) == ("queued", body["history"][0]["reason"])

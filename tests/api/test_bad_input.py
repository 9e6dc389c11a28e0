"""Hostile input never answers 500: deep JSON, non-ASCII digits, NUL characters, surrogates,
absurd numbers. Each gets the documented error, and nothing is stored.
"""

from __future__ import annotations

import pytest

DEEP = b'{"email": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"  # under the 64 KB cap
NOT_DIGITS = ["²", "٣", "１", "1" * 5000, "-1", "0", "1e2", " 5"]


def code(response):
    return response.get_json()["error"]["code"]


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/purchases"]
)
def test_deeply_nested_json_is_invalid_json(client, make_user, path):
    user = make_user()
    headers = {**user.headers, "Idempotency-Key": "deep", "Content-Type": "application/json"}
    response = client.post(path, data=DEEP, headers=headers)
    assert (response.status_code, code(response)) == (400, "invalid_json")
    moderately = b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}"
    assert client.post(path, data=moderately, headers=headers).status_code in (400, 422)


def test_a_deeply_nested_vtpass_callback_is_stored_not_a_500(client, settings):
    response = client.post(
        f"/api/v1/vtpass/callback/{settings.vtpass_callback_token}",
        data=DEEP,
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.get_json() == {"response": "success"}


@pytest.mark.parametrize("raw", NOT_DIGITS)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/purchases",
        "/api/v1/events",
        "/api/v1/webhook-endpoints",
        "/api/v1/wallet/entries",
        "/api/v1/admin/audit",
        "/api/v1/admin/purchases",
    ],
)
def test_a_limit_that_is_not_ascii_digits_is_a_field_error(client, admin, path, raw):
    response = client.get(path, query_string={"limit": raw}, headers=admin.headers)
    assert (response.status_code, code(response)) == (422, "validation_error")
    assert "limit" in response.get_json()["error"]["fields"]


@pytest.mark.parametrize("raw", ["ent_²", "ent_" + "9" * 40, "ent_-1"])
def test_a_wallet_cursor_that_is_not_ascii_digits_is_a_field_error(client, make_user, raw):
    response = client.get(
        "/api/v1/wallet/entries", query_string={"starting_after": raw}, headers=make_user().headers
    )
    assert (response.status_code, code(response)) == (422, "validation_error")


def test_an_audit_cursor_that_is_not_ascii_digits_is_a_field_error(client, admin):
    for raw in ("²", "9" * 40):
        response = client.get(
            "/api/v1/admin/audit", query_string={"starting_after": raw}, headers=admin.headers
        )
        assert (response.status_code, code(response)) == (422, "validation_error")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/purchases/pur_%00x"),
        ("GET", "/api/v1/webhook-endpoints/whe_%00"),
        ("DELETE", "/api/v1/webhook-endpoints/whe_%00"),
        ("GET", "/api/v1/webhook-endpoints/%00/attempts"),
        ("POST", "/api/v1/events/evt_%00/redeliver"),
        ("POST", "/api/v1/admin/purchases/%00/requery"),
        ("POST", "/api/v1/admin/users/usr_%00/wallet/credits"),
        ("GET", "/api/v1/catalog/services/mtn%00/variations"),
    ],
)
def test_nul_in_a_path_id_is_not_found(client, admin, method, path):
    response = client.open(path, method=method, headers=admin.headers, json={})
    assert (response.status_code, code(response)) == (404, "not_found")


@pytest.mark.parametrize(
    "query",
    [
        {"starting_after": "pur_\x00"},
        {"status": "\x00"},
        {"category": "air\x00time"},
    ],
)
def test_nul_in_a_query_string_is_a_field_error(client, make_user, query):
    response = client.get("/api/v1/purchases", query_string=query, headers=make_user().headers)
    assert (response.status_code, code(response)) == (422, "validation_error")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "nul\x00@example.com", "password": "correct-horse-42"},
        {"email": "a@example.com", "password": "correct-horse-42\x00"},
        {"email": "sur\ud800@example.com", "password": "correct-horse-42"},
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/auth/register", "/api/v1/auth/login"])
def test_nul_and_surrogates_in_credentials_are_field_errors(client, path, body):
    import json

    raw = json.dumps(body)  # escapes \x00 and the lone surrogate as \u0000 / \ud800
    response = client.post(path, data=raw, content_type="application/json")
    assert (response.status_code, code(response)) == (422, "validation_error")


def test_nul_in_a_purchase_is_a_field_error_and_nothing_is_held(client, make_user, fund, buy):
    user = make_user()
    fund(user, "1000")
    for body in (
        {"service_id": "mtn", "phone": "0801111\x001111", "amount": 100},
        {"service_id": "mtn\x00", "phone": "08011111111", "amount": 100},
        {"service_id": "ikeja-electric", "phone": "08011111111", "customer_id": "1\x00",
         "type": "prepaid", "amount": 1000},
    ):  # fmt: skip
        response = buy(user, **body)
        assert (response.status_code, code(response)) == (422, "validation_error"), body
    assert client.get("/api/v1/wallet", headers=user.headers).get_json()["held"] == "0.00"


def test_absurd_numbers_are_refused(client, make_user, fund, buy):
    user = make_user()
    fund(user, "1000")
    headers = {**user.headers, "Idempotency-Key": "huge", "Content-Type": "application/json"}
    body = '{"service_id": "waec", "phone": "08011111111", "quantity": 1' + "0" * 5000 + "}"
    response = client.post("/api/v1/purchases", data=body, headers=headers)
    assert response.status_code in (400, 422)
    for amount in ("1e400", "-0.0", "NaN", 10**30):
        assert buy(user, service_id="mtn", phone="08011111111", amount=amount).status_code == 422

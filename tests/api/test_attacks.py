"""The attack set: forged and misused tokens, privilege escalation, other users' objects,
and a guessed VTPass callback token. Every one must be refused, in the documented shape.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid

import jwt as pyjwt
import pytest

from tests.api.test_webhook_endpoints import move, queued_purchase


def code(response):
    return response.get_json()["error"]["code"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged(user, settings, how: str) -> str:
    header, payload, signature = user.access_token.split(".")
    claims = pyjwt.decode(user.access_token, options={"verify_signature": False})
    if how == "alg-none":
        return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({**claims, 'role': 'admin'})}."
    if how == "tampered-signature":
        flipped = "A" if signature[-2] != "A" else "B"
        return f"{header}.{payload}.{signature[:-2]}{flipped}{signature[-1]}"
    if how == "tampered-claims":
        return f"{header}.{b64({**claims, 'role': 'admin'})}.{signature}"
    if how == "other-key":
        return pyjwt.encode({**claims, "role": "admin"}, "not-our-key-" + "k" * 32, "HS256")
    if how == "expired":
        now = int(time.time())
        stale = {**claims, "iat": now - 3600, "nbf": now - 3600, "exp": now - 60}
        return pyjwt.encode(stale, settings.jwt_secret_key, "HS256")
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("alg-none", "token_invalid"),
        ("tampered-signature", "token_invalid"),
        ("tampered-claims", "token_invalid"),
        ("other-key", "token_invalid"),
        ("expired", "token_expired"),
    ],
)
def test_forged_tokens_are_refused(client, make_user, settings, how, expected):
    token = forged(make_user(), settings, how)
    for path in ("/api/v1/me", "/api/v1/admin/purchases"):
        response = client.get(path, headers=bearer(token))
        assert (response.status_code, code(response)) == (401, expected), path


def test_refresh_tokens_are_not_access_tokens_and_back(client, make_user):
    user = make_user()
    as_access = client.get("/api/v1/wallet", headers=bearer(user.refresh_token))
    assert (as_access.status_code, code(as_access)) == (401, "token_invalid")
    as_refresh = client.post("/api/v1/auth/refresh", headers=bearer(user.access_token))
    assert (as_refresh.status_code, code(as_refresh)) == (401, "token_invalid")


def test_a_role_in_the_register_body_is_refused(client):
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    response = client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": "correct-horse-42", "role": "admin"},
    )
    assert (response.status_code, code(response)) == (422, "validation_error")
    assert response.get_json()["error"]["fields"] == {"role": "unknown field"}
    made = client.post(
        "/api/v1/auth/register", json={"email": email, "password": "correct-horse-42"}
    )
    token = client.post(
        "/api/v1/auth/login", json={"email": email, "password": "correct-horse-42"}
    ).get_json()["access_token"]
    assert made.status_code == 201
    assert client.get("/api/v1/me", headers=bearer(token)).get_json()["role"] == "user"


def admin_operations(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/admin"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", "x", rule.rule)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, path


def test_no_admin_route_answers_a_user(app, client, make_user):
    user = make_user()
    found = list(admin_operations(app))
    assert len(found) >= 5
    for method, path in found:
        response = client.open(path, method=method, json={}, headers=user.headers)
        assert (response.status_code, code(response)) == (403, "forbidden"), (method, path)


@pytest.fixture
def victim(make_user, fund, client, runtime, buy):
    """A user with a purchase, a webhook endpoint and an event: the objects to steal."""
    from shared.purchases.states import PurchaseStatus as S

    user = make_user()
    fund(user, "1000")
    purchase = buy(user, service_id="mtn", phone="08011111111", amount=100).get_json()["id"]
    endpoint = client.post(
        "/api/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/h"}, headers=user.headers
    ).get_json()["id"]
    move(runtime, queued_purchase(runtime, user), S.FAILED, expected=S.QUEUED)
    event = client.get("/api/v1/events", headers=user.headers).get_json()["data"][0]["id"]
    return {"purchase": purchase, "endpoint": endpoint, "event": event}


def test_another_users_ids_are_not_found_on_every_resource(client, make_user, victim):
    thief = make_user()
    attempts = [
        ("GET", f"/api/v1/purchases/{victim['purchase']}"),
        ("GET", f"/api/v1/webhook-endpoints/{victim['endpoint']}"),
        ("GET", f"/api/v1/webhook-endpoints/{victim['endpoint']}/attempts"),
        ("POST", f"/api/v1/webhook-endpoints/{victim['endpoint']}/rotate-secret"),
        ("POST", f"/api/v1/webhook-endpoints/{victim['endpoint']}/enable"),
        ("DELETE", f"/api/v1/webhook-endpoints/{victim['endpoint']}"),
        ("POST", f"/api/v1/events/{victim['event']}/redeliver"),
    ]
    for method, path in attempts:
        response = client.open(path, method=method, headers=thief.headers)
        assert (response.status_code, code(response)) == (404, "not_found"), (method, path)
    # Listings show the thief nothing of the victim's.
    for path in ("/api/v1/purchases", "/api/v1/webhook-endpoints", "/api/v1/events"):
        assert client.get(path, headers=thief.headers).get_json()["data"] == [], path
    assert client.get("/api/v1/wallet", headers=thief.headers).get_json()["available"] == "0.00"


@pytest.mark.parametrize("token", ["wrong-token", "test-callback-toke", "test-callback-token1", ""])
def test_a_wrong_callback_token_is_not_found(client, token):
    body = {"type": "transaction-update", "data": {"requestId": "x"}}
    response = client.post(f"/api/v1/vtpass/callback/{token}", json=body)
    assert (response.status_code, code(response)) == (404, "not_found")

"""Caps on what one client can create or trigger, each tried until it holds.

Limits here are real flask-limiter counters in Redis (or in memory when Redis is down);
each test comes from client addresses of its own, so counters never meet across tests.
"""

from __future__ import annotations

import itertools
import uuid

import pytest

from tests.receiver import free_port

BASE = "/api/v1/webhook-endpoints"
HOOK = "http://127.0.0.1:9/hook"
_octets = itertools.count(1)


def address() -> str:
    """A client address no other test uses."""
    n = next(_octets)
    return f"198.51.{n // 250}.{n % 250 + 1}"


def error(response):
    return response.get_json()["error"]


@pytest.fixture
def strict_app(settings):
    """Build an app whose auth endpoints allow three requests a minute per client."""
    from api import create_app

    built = []

    def build(**overrides):
        built.append(create_app(settings.with_overrides(rate_limit_auth="3/minute", **overrides)))
        return built[-1]

    yield build
    for app in built:
        app.extensions["paylink"].close()


def login_from(
    client, remote: str, email: str, password: str = "wrong-password-1", forwarded_for=None
):
    return client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": remote},
        headers={"X-Forwarded-For": forwarded_for} if forwarded_for else {},
    )


def test_an_account_has_at_most_its_endpoint_cap(client, make_user, runtime):
    user = make_user()
    cap = runtime.settings.webhook_max_endpoints
    for n in range(cap):
        made = client.post(BASE, json={"url": f"{HOOK}{n}"}, headers=user.headers)
        assert made.status_code == 201, made.get_json()
    refused = client.post(BASE, json={"url": HOOK}, headers=user.headers)
    assert refused.status_code == 422
    assert "at most 20" in error(refused)["fields"]["url"]
    # Removing one makes room again.
    first = client.get(f"{BASE}?limit=1", headers=user.headers).get_json()["data"][0]
    assert client.delete(f"{BASE}/{first['id']}", headers=user.headers).status_code == 204
    assert client.post(BASE, json={"url": HOOK}, headers=user.headers).status_code == 201


def test_endpoint_listing_is_paginated(client, make_user):
    user = make_user()
    made = [
        client.post(BASE, json={"url": f"{HOOK}{n}"}, headers=user.headers).get_json()["id"]
        for n in range(3)
    ]
    page = client.get(f"{BASE}?limit=2", headers=user.headers).get_json()
    assert [e["id"] for e in page["data"]] == made[:2] and page["has_more"] is True
    rest = client.get(f"{BASE}?limit=2&starting_after={made[1]}", headers=user.headers).get_json()
    assert [e["id"] for e in rest["data"]] == made[2:] and rest["has_more"] is False
    assert client.get(f"{BASE}?limit=101", headers=user.headers).status_code == 422


def test_redelivering_one_event_has_a_cooldown(client, make_user, fund, runtime):
    from shared.purchases.states import PurchaseStatus as S
    from tests.api.test_webhook_endpoints import move, queued_purchase

    user = make_user()
    fund(user, "1000")
    for _ in range(2):
        move(runtime, queued_purchase(runtime, user), S.FAILED, expected=S.QUEUED)
    first, second = client.get("/api/v1/events", headers=user.headers).get_json()["data"]
    path = "/api/v1/events/{}/redeliver"
    assert client.post(path.format(first["id"]), headers=user.headers).status_code == 202
    again = client.post(path.format(first["id"]), headers=user.headers)
    assert (again.status_code, error(again)["code"]) == (429, "rate_limited")
    assert int(again.headers["Retry-After"]) > 0
    # The cooldown is per event (and per caller): another event goes out at once.
    assert client.post(path.format(second["id"]), headers=user.headers).status_code == 202


def test_verifications_have_a_tight_limit_per_account(client, make_user, runtime):
    user, other = make_user(), make_user()
    body = {"service_id": "ikeja-electric", "customer_id": "1111111111111", "type": "prepaid"}
    allowed = int(runtime.settings.rate_limit_verifications.split("/")[0])
    for _ in range(allowed):
        ok = client.post("/api/v1/verifications", json=body, headers=user.headers)
        assert ok.status_code == 200, ok.get_json()
    over = client.post("/api/v1/verifications", json=body, headers=user.headers)
    assert (over.status_code, error(over)["code"]) == (429, "rate_limited")
    assert client.post("/api/v1/verifications", json=body, headers=other.headers).status_code == 200


def test_failed_logins_are_limited_per_email_from_any_address(client, make_user):
    victim = make_user()
    for _ in range(5):
        assert login_from(client, address(), victim.email).status_code == 401
    # A sixth guess from yet another address is refused, and so, for now, is the right password.
    assert login_from(client, address(), victim.email).status_code == 429
    locked = login_from(client, address(), victim.email, victim.password)
    assert (locked.status_code, error(locked)["code"]) == (429, "rate_limited")
    # Other accounts are not affected; successful logins never count.
    someone = make_user()
    for _ in range(8):
        assert login_from(client, address(), someone.email, someone.password).status_code == 200


def test_an_ipv6_client_is_limited_by_its_64(strict_app):
    client = strict_app().test_client()
    prefix = f"2001:db8:{uuid.uuid4().hex[:4]}:1::"
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    for host in ("1", "2", "abcd"):
        assert login_from(client, prefix + host, email).status_code == 401
    assert login_from(client, prefix + "ffff:1", email).status_code == 429
    # The next /64 is someone else.
    other = prefix.replace(":1::", ":2::")
    assert login_from(client, other + "1", f"x{email}").status_code == 401


def test_limits_hold_in_memory_while_redis_is_down(strict_app):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    client = strict_app(redis_url=dead).test_client()
    remote = address()
    answers = [login_from(client, remote, f"{n}@example.com").status_code for n in range(4)]
    assert answers == [401, 401, 401, 429]


def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(strict_app):
    client = strict_app(trusted_proxies=1).test_client()
    proxy, real = address(), address()
    for n in range(3):
        assert login_from(client, proxy, f"{n}@p.example", forwarded_for=real).status_code == 401
    assert login_from(client, proxy, "3@p.example", forwarded_for=real).status_code == 429
    # Another client behind the same proxy has its own allowance.
    assert login_from(client, proxy, "4@p.example", forwarded_for=address()).status_code == 401


def test_without_a_trusted_proxy_a_forged_forwarded_for_changes_nothing(strict_app):
    client = strict_app().test_client()
    remote = address()
    answers = [
        login_from(client, remote, f"{n}@f.example", forwarded_for=address()).status_code
        for n in range(4)
    ]
    assert answers == [401, 401, 401, 429]

"""What the operator console uses: search, one purchase's whole story, sandbox funding."""

from __future__ import annotations

import pytest

from shared.models import Purchase, VTPassCallback
from shared.purchases.execution import record_outcome
from shared.purchases.states import PurchaseStatus as S
from shared.purchases.states import transition
from shared.vtpass import Outcome, OutcomeKind


@pytest.fixture
def bought(make_user, fund, buy):
    user = make_user()
    fund(user, "1000")
    purchase = buy(
        user,
        service_id="ikeja-electric",
        phone="0803 123 4567",
        customer_id="1111111111111",
        type="prepaid",
        amount=500,
    ).get_json()
    assert purchase["status"] == "queued", purchase
    return user, purchase


def search(client, admin, q: str) -> list[str]:
    response = client.get("/api/v1/admin/search", query_string={"q": q}, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    return [p["id"] for p in response.get_json()["data"]]


def test_search_by_id_request_id_phone_customer_number_and_email(client, admin, bought):
    user, purchase = bought
    for q in (
        purchase["id"],
        purchase["request_id"],
        "08031234567",
        "+234 803 123 4567",
        "1111111111111",
        user.email.upper(),
    ):
        assert purchase["id"] in search(client, admin, q), q
    assert search(client, admin, "nothing-like-this") == []
    found = client.get(
        "/api/v1/admin/search", query_string={"q": purchase["id"]}, headers=admin.headers
    ).get_json()["data"][0]
    assert found["user_email"] == user.email


def test_search_needs_a_query_and_an_admin(client, admin, bought):
    user, _ = bought
    response = client.get("/api/v1/admin/search", headers=admin.headers)
    assert response.status_code == 422 and "q" in response.get_json()["error"]["fields"]
    assert client.get("/api/v1/admin/search?q=x", headers=user.headers).status_code == 403


def test_purchase_detail_tells_the_whole_story(client, admin, runtime, bought, receiver):
    user, purchase = bought
    hook = receiver()
    created = client.post(
        "/api/v1/webhook-endpoints", json={"url": hook.url()}, headers=user.headers
    )
    assert created.status_code == 201, created.get_json()
    with runtime.db.transaction() as session:
        p = session.get(Purchase, purchase["id"])
        transition(session, p, S.PROCESSING, reason="test", actor="worker")
        session.add(
            VTPassCallback(
                body_hash="h-" + purchase["id"],
                request_id=purchase["request_id"],
                body={"requestId": purchase["request_id"]},
            )
        )
    outcome = Outcome(
        kind=OutcomeKind.DELIVERED,
        code="000",
        description="TRANSACTION SUCCESSFUL",
        http_status=200,
        transaction_id="17000000001",
        receipt={"token": "1234-5678"},
        raw={"code": "000"},
    )
    record_outcome(
        runtime.db,
        purchase["id"],
        outcome,
        expected=S.PROCESSING,
        operation="pay",
        timing=runtime.timing,
    )
    response = client.get(f"/api/v1/admin/purchases/{purchase['id']}", headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    story = response.get_json()
    assert story["purchase"]["status"] == "delivered"
    assert [h["status"] for h in story["purchase"]["history"]] == [
        "queued",
        "processing",
        "delivered",
    ]
    assert story["user"] == {"id": user.id, "email": user.email}
    exchange = story["vtpass_exchanges"][0]
    assert exchange["action"] == "vtpass.pay" and exchange["detail"]["code"] == "000"
    assert [j["type"] for j in story["ledger"]] == ["hold", "capture"]
    assert [w["event_type"] for w in story["webhooks"]] == ["purchase.delivered"]
    assert story["webhooks"][0]["url"] == hook.url()
    assert story["callbacks"][0]["request_id"] == purchase["request_id"]
    assert {"purchase.status", "ledger.capture"} <= {e["action"] for e in story["audit"]}


def test_purchase_detail_is_admin_only_and_404s(client, admin, bought):
    user, purchase = bought
    assert (
        client.get(f"/api/v1/admin/purchases/{purchase['id']}", headers=user.headers).status_code
        == 403
    )
    missing = client.get("/api/v1/admin/purchases/pur_nope", headers=admin.headers)
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (404, "not_found")


def test_sandbox_funding_is_credited_by_the_configured_admin(settings, admin, make_user):
    from api import create_app

    app = create_app(settings.with_overrides(paylink_admin_email=admin.email))
    client = app.test_client()
    user = make_user()
    response = client.post(
        "/api/v1/sandbox/wallet/fund", json={"amount": "5000"}, headers=user.headers
    )
    assert response.status_code == 201, response.get_json()
    assert client.get("/api/v1/wallet", headers=user.headers).get_json()["available"] == "5000.00"
    entries = client.get("/api/v1/admin/audit", headers=admin.headers).get_json()["data"]
    assert any(
        e["action"] == "ledger.credit"
        and e["actor"] == f"admin:{admin.id}"
        and e["user_id"] == user.id
        for e in entries
    )
    too_much = client.post(
        "/api/v1/sandbox/wallet/fund", json={"amount": "100001"}, headers=user.headers
    )
    assert too_much.status_code == 422


def test_sandbox_funding_does_not_exist_in_live_mode(settings, admin, make_user):
    from api import create_app

    app = create_app(settings.with_overrides(vtpass_mode="live", paylink_admin_email=admin.email))
    client = app.test_client()
    user = make_user()
    response = client.post(
        "/api/v1/sandbox/wallet/fund", json={"amount": "5000"}, headers=user.headers
    )
    assert response.status_code == 404
    assert client.get("/api/v1/wallet", headers=user.headers).get_json()["available"] == "0.00"
    spec = client.get("/api/v1/openapi.json").get_json()
    assert not any(path.startswith("/api/v1/sandbox") for path in spec["paths"])

"""Operator endpoints: purchases in review, requery now, resolve, and the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from shared.db import utcnow
from shared.models import Purchase


@pytest.fixture
def in_review(runtime, make_user, fund, buy):
    """A purchase VTPass left pending past the deadline (funds still held)."""
    user = make_user()
    fund(user, "1000")
    purchase = buy(user, service_id="mtn", phone="201000000000", amount=100).get_json()
    with runtime.db.transaction() as session:
        session.execute(
            update(Purchase)
            .where(Purchase.id == purchase["id"])
            .values(
                status="review", next_attempt_at=None, pending_since=utcnow() - timedelta(days=2)
            )
        )
    return user, purchase


def test_only_admins(client, make_user):
    user = make_user()
    for method, path in [
        ("get", "/api/v1/admin/purchases"),
        ("get", "/api/v1/admin/audit"),
        ("post", "/api/v1/admin/purchases/x/requery"),
    ]:
        response = getattr(client, method)(path, headers=user.headers)
        assert (response.status_code, response.get_json()["error"]["code"]) == (403, "forbidden")


def test_list_review_and_resolve_delivered(client, admin, in_review, ledger_ok):
    user, purchase = in_review
    listing = client.get("/api/v1/admin/purchases?status=review", headers=admin.headers).get_json()
    assert purchase["id"] in [p["id"] for p in listing["data"]]
    response = client.post(
        f"/api/v1/admin/purchases/{purchase['id']}/resolve",
        json={"status": "delivered", "note": "VTPass support confirmed delivery by email"},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "delivered"
    wallet = client.get("/api/v1/wallet", headers=user.headers).get_json()
    assert (wallet["available"], wallet["held"]) == ("900.00", "0.00")
    again = client.post(
        f"/api/v1/admin/purchases/{purchase['id']}/resolve",
        json={"status": "failed", "note": "changed my mind"},
        headers=admin.headers,
    )
    assert again.status_code == 422  # final is final
    audit = client.get(
        f"/api/v1/admin/audit?purchase_id={purchase['id']}", headers=admin.headers
    ).get_json()["data"]
    actions = [e["action"] for e in audit]
    assert "operator.resolve" in actions and "ledger.capture" in actions
    assert any(e["actor"] == f"admin:{admin.id}" for e in audit)
    ledger_ok()


def test_resolve_failed_releases(client, admin, in_review, ledger_ok):
    user, purchase = in_review
    response = client.post(
        f"/api/v1/admin/purchases/{purchase['id']}/resolve",
        json={"status": "failed", "note": "never delivered"},
        headers=admin.headers,
    )
    assert response.get_json()["status"] == "failed"
    assert client.get("/api/v1/wallet", headers=user.headers).get_json()["available"] == "1000.00"
    ledger_ok()


def test_an_admin_reverses_a_delivered_purchase_once(
    client, admin, make_user, in_review, ledger_ok
):
    """The remedy for a delivered purchase VTPass never delivered: one refund, audited."""
    user, purchase = in_review
    path = f"/api/v1/admin/purchases/{purchase['id']}/resolve"
    body = {"status": "reversed", "note": "VTPass: nothing delivered"}
    client.post(path, json={"status": "delivered", "note": "VTPass said so"}, headers=admin.headers)
    assert client.post(path, json=body, headers=make_user().headers).status_code == 403
    response = client.post(path, json=body, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "reversed"
    wallet = client.get("/api/v1/wallet", headers=user.headers).get_json()
    assert (wallet["available"], wallet["held"]) == ("1000.00", "0.00")
    assert client.post(path, json=body, headers=admin.headers).status_code == 422
    assert client.get("/api/v1/wallet", headers=user.headers).get_json()["available"] == "1000.00"
    audit = client.get(
        f"/api/v1/admin/audit?purchase_id={purchase['id']}", headers=admin.headers
    ).get_json()["data"]
    assert [e["action"] for e in audit].count("ledger.refund") == 1
    assert [e["detail"]["status"] for e in audit if e["action"] == "operator.resolve"] == [
        "reversed",
        "delivered",
    ]
    ledger_ok()


@pytest.mark.parametrize(
    "body", [{"status": "reversed", "note": "x"}, {"status": "delivered"}, {"note": "x"}, []]
)
def test_resolve_validates(client, admin, in_review, body):
    _, purchase = in_review
    response = client.post(
        f"/api/v1/admin/purchases/{purchase['id']}/resolve", json=body, headers=admin.headers
    )
    assert response.status_code == 422


def test_requery_now_asks_vtpass(client, admin, in_review, simulator):
    _, purchase = in_review
    response = client.post(
        f"/api/v1/admin/purchases/{purchase['id']}/requery", headers=admin.headers
    )
    assert response.status_code == 200
    # No worker ever sent this purchase, so VTPass answers 015: provably never charged.
    body = response.get_json()
    assert (body["status"], body["error"]["code"]) == ("failed", "not_received")
    missing = client.post("/api/v1/admin/purchases/pur_nope/requery", headers=admin.headers)
    assert missing.status_code == 404


def test_requery_now_pays_again_when_vtpass_proves_it_never_got_it(
    client, admin, runtime, make_user, fund, buy, monkeypatch
):
    import api.admin

    published: list[str] = []
    monkeypatch.setattr(api.admin, "publish_pay", lambda pid: published.append(pid) or True)
    user = make_user()
    fund(user, "1000")
    purchase = buy(user, service_id="mtn", phone="08011111111", amount=100).get_json()
    with runtime.db.transaction() as session:
        session.execute(
            update(Purchase)
            .where(Purchase.id == purchase["id"])
            .values(
                status="pending",
                pending_since=utcnow(),
                last_pay_at=utcnow() - timedelta(minutes=10),
            )
        )
    # A pay that never reached VTPass: it answers 015, and nothing was ever acknowledged.
    response = client.post(
        f"/api/v1/admin/purchases/{purchase['id']}/requery", headers=admin.headers
    )
    assert response.get_json()["status"] == "queued"
    assert published == [purchase["id"]]


def test_audit_records_vtpass_exchanges_without_secrets(client, admin, runtime, in_review):
    _, purchase = in_review
    client.post(f"/api/v1/admin/purchases/{purchase['id']}/requery", headers=admin.headers)
    audit = client.get(
        f"/api/v1/admin/audit?purchase_id={purchase['id']}", headers=admin.headers
    ).get_json()["data"]
    exchange = next(e for e in audit if e["action"] == "vtpass.requery")
    assert exchange["detail"]["request_id"] == purchase["request_id"]
    text = str(audit)
    for secret in (runtime.settings.vtpass_secret_key, runtime.settings.vtpass_api_key):
        assert secret not in text


def test_requery_now_says_so_when_the_pay_cannot_be_queued(
    client, admin, runtime, make_user, fund, buy, monkeypatch
):
    """The answer is recorded (queued to pay again); a broker down after that is a documented
    503 naming what happened, never a 500, and the sweeper still sends the pay."""
    import celery

    user = make_user()
    fund(user, "1000")
    purchase = buy(user, service_id="mtn", phone="08011111111", amount=100).get_json()
    with runtime.db.transaction() as session:
        session.execute(
            update(Purchase)
            .where(Purchase.id == purchase["id"])
            .values(
                status="pending",
                pending_since=utcnow(),
                last_pay_at=utcnow() - timedelta(minutes=10),
            )
        )

    def broker_down(self, *args, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(celery.Celery, "send_task", broker_down)
    response = client.post(
        f"/api/v1/admin/purchases/{purchase['id']}/requery", headers=admin.headers
    )
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "service_unavailable"
    assert "recorded" in error["message"] and "sweeper" in error["message"]
    with runtime.db.sessions() as session:
        stored = session.get(Purchase, purchase["id"])
        assert stored.status == "queued"
        assert stored.next_attempt_at is not None

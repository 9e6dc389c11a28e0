"""Airtime end to end: API -> Celery worker -> VTPass simulator -> ledger."""

from __future__ import annotations

from tests.e2e.conftest import both_brokers


def wallet(client, user):
    return client.get("/api/v1/wallet", headers=user.headers).get_json()


@both_brokers
def test_success_number_is_delivered_and_captured(
    client, make_user, fund, buy, settle, simulator, ledger_ok
):
    user = make_user()
    fund(user, "500")
    accepted = buy(user, service_id="mtn", phone="08011111111", amount="100.50").get_json()
    done = settle(user, accepted["id"])
    assert done["status"] == "delivered"
    assert done["vtpass_transaction_id"]
    assert done["completed_at"] and done["error"] is None
    assert [h["status"] for h in done["history"]] == ["queued", "processing", "delivered"]
    assert wallet(client, user) == {"currency": "NGN", "available": "399.50", "held": "0.00"}
    charged = simulator.transaction(done["request_id"])
    assert charged["charged"] and charged["pay_calls"] == 1
    ledger_ok()


def test_pending_number_stays_pending_with_funds_held(
    client, make_user, fund, buy, settle, ledger_ok
):
    user = make_user()
    fund(user, "500")
    accepted = buy(user, service_id="glo", phone="201000000000", amount=200).get_json()
    pending = settle(user, accepted["id"], statuses={"pending", "failed", "delivered"})
    assert pending["status"] == "pending"
    assert wallet(client, user) == {"currency": "NGN", "available": "300.00", "held": "200.00"}
    ledger_ok()


def test_other_number_fails_and_funds_come_back(
    client, make_user, fund, buy, settle, simulator, ledger_ok
):
    user = make_user()
    fund(user, "500")
    accepted = buy(user, service_id="airtel", phone="08031234567", amount=100).get_json()
    done = settle(user, accepted["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "vtpass_failed"
    assert wallet(client, user) == {"currency": "NGN", "available": "500.00", "held": "0.00"}
    assert not simulator.transaction(done["request_id"])["charged"]
    ledger_ok()


def test_wallet_entries_show_hold_and_capture(client, make_user, fund, buy, settle):
    user = make_user()
    fund(user, "300")
    accepted = buy(user, service_id="mtn", phone="08011111111", amount=100).get_json()
    settle(user, accepted["id"])
    entries = client.get("/api/v1/wallet/entries", headers=user.headers).get_json()["data"]
    kinds = [(e["type"], e["account"], e["amount"]) for e in entries]
    assert kinds == [
        ("capture", "held", "-100.00"),
        ("hold", "held", "100.00"),
        ("hold", "available", "-100.00"),
        ("credit", "available", "300.00"),
    ]

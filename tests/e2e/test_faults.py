"""Money safety under faults, with real processes: a misbehaving VTPass, killed workers.

After each scenario: every purchase is final (or in review), VTPass charged each purchase at
most once, PayLink's outcome equals VTPass's, and the ledger invariants hold.
"""

from __future__ import annotations

import random
import uuid

import pytest

from tests.e2e.conftest import BROKERS, FINAL, api_user, both_brokers
from tests.support import wait_for


def new_phone() -> str:
    """A valid Nigerian number that no other test uses (the simulator scripts by number)."""
    return "0803" + "".join(random.choices("0123456789", k=7))


@pytest.fixture
def customer(make_user, fund):
    user = make_user()
    fund(user, "50000")
    return user


def buy_scripted(buy, simulator, user, behaviour, amount=100, **script):
    phone = new_phone()
    simulator.script(phone, behaviour, **script)
    response = buy(user, service_id="mtn", phone=phone, amount=amount)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


UNKNOWN_OUTCOMES = [
    ("charge_then_hang", {"stall_s": 4}),  # past the 2 s read timeout
    ("charge_then_drop", {}),
    ("garbage", {}),
    ("http_500", {}),
    ("odd_code", {"code": "777"}),
    ("processing", {"resolve_after_requeries": 3}),  # 099, 099, 099, then delivered
    ("pending", {"resolve_after_requeries": 2, "final_status": "failed"}),
]
# Every outcome takes the same path through the broker (pending, then requeries with
# countdowns); on RabbitMQ these three cover it: one requery, several, and one ending failed.
ON_RABBITMQ = ("charge_then_hang", "processing", "pending")


@pytest.mark.parametrize(
    ("broker", "behaviour", "script"),
    [
        pytest.param(broker.values[0], behaviour, script, id=f"{behaviour}-{broker.id}")
        for broker in BROKERS
        for behaviour, script in UNKNOWN_OUTCOMES
        if broker.id == "redis" or behaviour in ON_RABBITMQ
    ],
    indirect=["broker"],
)
def test_unknown_outcomes_are_requeried_never_paid_twice(
    buy, settle, simulator, customer, consistent, behaviour, script
):
    purchase_id = buy_scripted(buy, simulator, customer, behaviour, **script)
    done = settle(customer, purchase_id, timeout=40)
    statuses = [h["status"] for h in done["history"]]
    assert "pending" in statuses, statuses
    expected = script.get("final_status", "delivered")
    assert done["status"] == expected
    assert simulator.transaction(done["request_id"])["pay_calls"] == 1
    consistent([purchase_id])


@both_brokers
def test_pay_lost_before_vtpass_saw_it_is_sent_again_with_the_same_id(
    buy, settle, simulator, customer, consistent
):
    phone = new_phone()
    simulator.script(phone, "lose", times=1)
    simulator.script(phone, "deliver")
    purchase_id = buy(customer, service_id="mtn", phone=phone, amount=100).get_json()["id"]
    done = settle(customer, purchase_id, timeout=40)
    assert done["status"] == "delivered"
    reasons = " ".join(h["reason"] or "" for h in done["history"])
    assert "015" in reasons
    assert simulator.transaction(done["request_id"])["charged"]
    consistent([purchase_id])


@both_brokers
def test_pending_settled_by_a_callback_after_a_requery(
    buy, settle, simulator, customer, consistent, live_api
):
    purchase_id = buy_scripted(buy, simulator, customer, "pending")
    pending = settle(customer, purchase_id, statuses={"pending"})
    simulator.control("POST", f"transactions/{pending['request_id']}/settle", status="delivered")
    done = settle(customer, purchase_id, timeout=20)
    assert done["status"] == "delivered"
    consistent([purchase_id])


def test_reversal_callback_repeated_three_times_refunds_once(
    client, buy, settle, simulator, customer, consistent, live_api, runtime
):
    purchase_id = buy_scripted(buy, simulator, customer, "deliver", amount=300)
    delivered = settle(customer, purchase_id)
    assert delivered["status"] == "delivered"
    simulator.control("POST", f"transactions/{delivered['request_id']}/reverse", repeat_callbacks=3)
    done = settle(customer, purchase_id, statuses={"reversed"}, timeout=20)
    assert [h["status"] for h in done["history"]][-2:] == ["delivered", "reversed"]
    wallet = client.get("/api/v1/wallet", headers=customer.headers).get_json()
    assert wallet == {"currency": "NGN", "available": "50000.00", "held": "0.00"}
    from shared.models import VTPassCallback

    def all_stored():
        with runtime.db.sessions() as session:
            rows = session.query(VTPassCallback).filter_by(request_id=done["request_id"]).all()
        return sum(r.times_received for r in rows) >= 3 and rows

    rows = wait_for(all_stored, what="three callbacks")
    assert len(rows) == 1  # the same notice three times is stored once
    consistent([purchase_id])


def test_callback_with_a_wrong_token_is_404(client):
    response = client.post("/api/v1/vtpass/callback/wrong", json={"type": "transaction-update"})
    assert response.status_code == 404


def test_callback_answers_success_for_unknown_or_garbage_notices(client, settings):
    url = f"/api/v1/vtpass/callback/{settings.vtpass_callback_token}"
    for body in (
        {"type": "transaction-update", "data": {"requestId": "nope"}},
        {"type": "transaction-update", "data": {"requestId": "x" * 500, "note": "nul\u0000"}},
        "not json",
    ):
        response = client.post(
            url,
            data=body if isinstance(body, str) else None,
            json=None if isinstance(body, str) else body,
        )
        assert response.get_json() == {"response": "success"}


def test_a_hundred_hanging_calls_do_not_stop_other_purchases(private_stack, simulator, consistent):
    # A worker as production runs it: long read timeout, many thread slots.
    app, _, _ = private_stack(concurrency=150, vtpass_read_timeout=300.0)
    client = app.test_client()
    headers = api_user(app, amount=100_000)

    def buy(phone):
        key = {"Idempotency-Key": uuid.uuid4().hex}
        body = {"service_id": "mtn", "phone": phone, "amount": 50}
        response = client.post("/api/v1/purchases", json=body, headers={**headers, **key})
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    def status(purchase_id):
        return client.get(f"/api/v1/purchases/{purchase_id}", headers=headers).get_json()["status"]

    hanging = []
    for _ in range(100):
        phone = new_phone()
        # Stalled until the test releases them: the check below never races the stall.
        simulator.script(phone, "charge_then_hang", stall_s=240)
        hanging.append(buy(phone))
    wait_for(
        lambda: all(status(p) == "processing" for p in hanging),
        timeout=120,
        what="a hundred calls hanging inside VTPass",
    )
    quick = buy("08011111111")
    wait_for(lambda: status(quick) == "delivered", timeout=60, what="the quick purchase")
    # It settled while every one of the hundred was still waiting on VTPass.
    assert all(status(p) == "processing" for p in hanging)
    simulator.control("POST", "release")
    wait_for(lambda: all(status(p) in FINAL for p in hanging), timeout=120, what="the hundred")
    consistent([*hanging, quick])


@both_brokers
def test_kill_dash_nine_a_worker_mid_purchase(
    buy, settle, simulator, customer, consistent, processes, client
):
    in_flight = [
        buy_scripted(buy, simulator, customer, "charge_then_hang", stall_s=1.5) for _ in range(10)
    ]

    def all_processing():
        statuses = [
            client.get(f"/api/v1/purchases/{p}", headers=customer.headers).get_json()["status"]
            for p in in_flight
        ]
        return statuses.count("processing") >= 5

    wait_for(all_processing, timeout=20, what="purchases in flight")
    processes.kill("worker")
    queued_meanwhile = [
        buy(customer, service_id="mtn", phone="08011111111", amount=60).get_json()["id"]
        for _ in range(5)
    ]
    processes.start_worker()
    charged = {}
    for purchase_id in [*in_flight, *queued_meanwhile]:
        done = settle(customer, purchase_id, timeout=60)
        # Every VTPass answer here is a charge: each purchase ends delivered, charged once.
        assert done["status"] == "delivered", done
        charged[purchase_id] = simulator.transaction(done["request_id"])
    assert all(t["charged"] and t["pay_calls"] == 1 for t in charged.values()), charged
    consistent([*in_flight, *queued_meanwhile])


def test_vtpass_refusing_connections_then_returning(private_stack):
    """Connection refused proves nothing was sent: retry with backoff until VTPass is back."""
    from simulator.server import start_in_thread
    from standalone import services

    port = services.free_port()
    app, _, _ = private_stack(vtpass_base_url=f"http://127.0.0.1:{port}/api")
    client = app.test_client()
    headers = {**api_user(app), "Idempotency-Key": uuid.uuid4().hex}
    sim_config = {"API_KEY": "sim-api-key", "PUBLIC_KEY": "PK_sim", "SECRET_KEY": "SK_sim"}
    # The catalog (airtime's limits) is cached while VTPass is up; then VTPass goes away.
    vtpass = start_in_thread(sim_config, port=port)
    assert (
        client.get("/api/v1/catalog/services?category=airtime", headers=headers).status_code == 200
    )
    vtpass.stop()
    body = {"service_id": "mtn", "phone": "08011111111", "amount": 100}
    response = client.post("/api/v1/purchases", json=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    purchase_id = response.get_json()["id"]

    def history():
        got = client.get(f"/api/v1/purchases/{purchase_id}", headers=headers).get_json()
        return [h["reason"] or "" for h in got["history"]], got

    wait_for(
        lambda: any("refused" in r for r in history()[0]), timeout=20, what="a refused connection"
    )
    vtpass = start_in_thread(sim_config, port=port)
    try:
        done = wait_for(
            lambda: history()[1]["status"] in FINAL and history()[1],
            timeout=60,
            what="delivery once VTPass is back",
        )
        assert done["status"] == "delivered"
        charges = [
            t
            for t in vtpass.app.test_client().get("/_sim/transactions").get_json()["data"]
            if t["request_id"] == done["request_id"]
        ]
        assert len(charges) == 1 and charges[0]["pay_calls"] == 1
    finally:
        vtpass.stop()

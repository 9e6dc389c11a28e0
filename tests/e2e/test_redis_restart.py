"""Restart Redis (broker, cache, blocklist) mid-run: messages are lost, purchases are not.

Uses its own Redis on another port, never the machine's shared one.
"""

from __future__ import annotations

import uuid

import pytest

from standalone import services
from tests.conftest import TESTDATA
from tests.e2e.conftest import FINAL, Processes
from tests.support import wait_for


@pytest.fixture
def private_stack(settings, worker_env, tmp_path):
    from api import create_app

    port = services.free_port()
    redis = services.start_redis(TESTDATA / f"redis-{port}", port)
    redis_url = f"redis://127.0.0.1:{port}/0"
    app = create_app(settings.with_overrides(redis_url=redis_url))
    procs = Processes({**worker_env, "REDIS_URL": redis_url}, tmp_path)
    procs.start_worker(concurrency=32)
    procs.start_beat()
    state = {"redis": redis, "port": port}
    yield app, procs, state
    procs.stop_all()
    state["redis"].terminate()
    state["redis"].wait(timeout=10)


def test_redis_restart_loses_messages_but_no_purchase(private_stack, simulator, consistent):
    app, procs, state = private_stack
    client = app.test_client()
    email, password = f"redis-{uuid.uuid4().hex[:8]}@example.com", "correct-horse-42"
    user_id = client.post(
        "/api/v1/auth/register", json={"email": email, "password": password}
    ).get_json()["id"]
    token = client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}
    ).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    with app.app_context():
        from shared import ledger

        with app.extensions["paylink"].db.transaction() as session:
            ledger.credit(
                session, user_id=user_id, amount=10_000, reference=uuid.uuid4().hex, actor="t"
            )

    def buy(phone):
        key = {"Idempotency-Key": uuid.uuid4().hex}
        body = {"service_id": "mtn", "phone": phone, "amount": 100}
        response = client.post("/api/v1/purchases", json=body, headers={**headers, **key})
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    slow = []
    for _ in range(5):
        phone = "0803" + uuid.uuid4().int.__str__()[:7]
        simulator.script(phone, "charge_then_hang", stall_s=1.5)
        slow.append(buy(phone))
    quick = [buy("08011111111") for _ in range(5)]

    # Kill Redis with messages in flight and start an empty one on the same port.
    state["redis"].kill()
    state["redis"].wait(timeout=10)
    down = client.get("/api/v1/me", headers=headers)
    assert down.status_code == 503  # the blocklist fails closed while Redis is down
    state["redis"] = services.start_redis(TESTDATA / f"redis-{state['port']}", state["port"])

    after = [buy("08011111111") for _ in range(3)]
    every = [*slow, *quick, *after]

    def settled():
        statuses = [
            client.get(f"/api/v1/purchases/{p}", headers=headers).get_json()["status"]
            for p in every
        ]
        return all(s in FINAL for s in statuses)

    wait_for(settled, timeout=90, interval=0.2, what="every purchase to settle after the restart")
    consistent(every)

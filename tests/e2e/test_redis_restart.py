"""Restart Redis (broker, cache, blocklist) mid-run: messages are lost, purchases are not.

Uses its own Redis on another port, never the machine's shared one.
"""

from __future__ import annotations

import uuid

from standalone import services
from tests.conftest import TESTDATA
from tests.e2e.conftest import FINAL, api_user
from tests.support import wait_for


def test_redis_restart_loses_messages_but_no_purchase(private_stack, simulator, consistent):
    app, _, state = private_stack()
    client = app.test_client()
    headers = api_user(app)

    def buy(phone):
        key = {"Idempotency-Key": uuid.uuid4().hex}
        body = {"service_id": "mtn", "phone": phone, "amount": 100}
        response = client.post("/api/v1/purchases", json=body, headers={**headers, **key})
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    slow = []
    for _ in range(5):
        phone = "0803" + str(uuid.uuid4().int)[:7]
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

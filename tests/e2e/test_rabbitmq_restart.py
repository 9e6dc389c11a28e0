"""Restart RabbitMQ (the broker) mid-run: quorum queues keep every message, none is paid twice.

Runs on a RabbitMQ node of the test's own (tests/rabbitmq_node.py; the machine's shared one on
5672 is never touched) and on a database of its own, so the package's worker and sweeper never
see these purchases. If no private RabbitMQ can be started here, the test skips and says why.
"""

from __future__ import annotations

import random
import uuid

import amqp
import pytest

from tests.conftest import settings_env
from tests.e2e.conftest import FINAL, Processes, api_user
from tests.rabbitmq_node import CannotStart, RabbitNode
from tests.support import wait_for


@pytest.fixture
def rabbit(tmp_path):
    try:
        node = RabbitNode(tmp_path / "rabbitmq")
        node.start()
    except CannotStart as why:
        pytest.skip(f"cannot start a private RabbitMQ: {why}")
    yield node
    node.stop()
    node.kill()


def messages_in(node: RabbitNode, queue: str) -> int:
    """RabbitMQ's own count of the messages waiting in a queue (a passive declare)."""
    connection = amqp.Connection(
        host=f"127.0.0.1:{node.port}", userid="guest", password="guest", connect_timeout=5
    )
    connection.connect()
    try:
        _, count, _ = connection.channel().queue_declare(queue, passive=True)
        return int(count)
    finally:
        connection.close()


def test_rabbitmq_restart_loses_no_purchase_and_pays_none_twice(
    rabbit, private_database, settings, worker_env, simulator, tmp_path
):
    from api import create_app
    from shared.ledger import check_invariants
    from shared.models import Purchase

    stack = settings.with_overrides(database_url=private_database, celery_broker_url=rabbit.url)
    app = create_app(stack)
    procs = Processes({**worker_env, **settings_env(stack)}, tmp_path)
    client = app.test_client()
    headers = api_user(app, amount=100_000)

    def buy(phone: str = "08011111111") -> str:
        key = {"Idempotency-Key": uuid.uuid4().hex}
        body = {"service_id": "mtn", "phone": phone, "amount": 100}
        response = client.post("/api/v1/purchases", json=body, headers={**headers, **key})
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    def status(purchase_id: str) -> str:
        return client.get(f"/api/v1/purchases/{purchase_id}", headers=headers).get_json()["status"]

    try:
        # 1. Published while no worker runs: confirmed, so they wait in the quorum queue.
        waiting = [buy() for _ in range(5)]
        assert messages_in(rabbit, "purchases") == 5
        rabbit.stop()
        rabbit.start()
        assert messages_in(rabbit, "purchases") == 5  # the same data: nothing forgotten
        # No beat yet, so no sweeper: only the queue can bring these purchases to VTPass.
        procs.start_worker(concurrency=32)
        wait_for(
            lambda: all(status(p) == "delivered" for p in waiting),
            timeout=60,
            interval=0.2,
            what="the purchases queued across the restart",
        )

        # 2. Again with purchases in flight (VTPass charges, then answers late).
        procs.start_beat()
        slow = []
        for _ in range(4):
            phone = "0803" + "".join(random.choices("0123456789", k=7))
            simulator.script(phone, "charge_then_hang", stall_s=3)
            slow.append(buy(phone))
        quick = [buy() for _ in range(4)]
        wait_for(
            lambda: sum(status(p) == "processing" for p in slow) >= 2,
            timeout=30,
            what="purchases in flight inside VTPass",
        )
        rabbit.kill()  # this time it crashes: what it confirmed is on disk
        during = [buy() for _ in range(2)]  # RabbitMQ is down: left to the sweeper
        rabbit.start()
        after = [buy() for _ in range(3)]
        every = [*waiting, *slow, *quick, *during, *after]
        wait_for(
            lambda: all(status(p) in FINAL for p in every),
            timeout=120,
            interval=0.2,
            what="every purchase to settle after the restarts",
        )

        # Every VTPass answer here is a charge: each purchase delivered, charged exactly once.
        charged = {t["request_id"]: t for t in simulator.transactions() if t["charged"]}
        runtime = app.extensions["paylink"]
        with runtime.db.sessions() as session:
            for purchase_id in every:
                p = session.get(Purchase, purchase_id)
                assert p.status == "delivered", (purchase_id, p.status)
                ids = [p.request_id, *p.superseded_request_ids]
                charges = [charged[i] for i in ids if i in charged]
                assert len(charges) == 1 and charges[0]["pay_calls"] == 1, (purchase_id, charges)
            assert check_invariants(session) == []
    finally:
        procs.stop_all()
        app.extensions["paylink"].close()

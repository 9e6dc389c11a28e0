"""Restart RabbitMQ (the broker) mid-run: quorum queues keep every message, none is paid twice.

The worker has two task slots, both busy with purchases VTPass answers late, and five more
purchases wait in the queue when RabbitMQ stops; it starts again on the same data. No beat
runs (so no sweeper re-drives anything): every purchase still ends delivered, charged once.

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
    node.kill()  # its data is the test's own temporary directory


def messages_in(node: RabbitNode, queue: str) -> int | None:
    """RabbitMQ's own count of the messages waiting in a queue (a passive declare); None while
    the queue cannot answer (e.g. still recovering after a start)."""
    connection = amqp.Connection(
        host=f"127.0.0.1:{node.port}", userid="guest", password="guest", connect_timeout=5
    )
    try:
        connection.connect()
        _, count, _ = connection.channel().queue_declare(queue, passive=True)
        return int(count)
    except (OSError, amqp.exceptions.AMQPError):
        return None
    finally:
        connection.collect()


def test_rabbitmq_restart_mid_run_loses_no_purchase_and_pays_none_twice(
    rabbit, private_database, settings, worker_env, simulator, tmp_path
):
    from api import create_app
    from shared.ledger import check_invariants
    from shared.models import Purchase

    # A read timeout longer than VTPass's stall below: those purchases stay in flight (their
    # messages delivered, unacked) for seconds, a window the restart cannot miss.
    stack = settings.with_overrides(
        database_url=private_database, celery_broker_url=rabbit.url, vtpass_read_timeout=30.0
    )
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
        # Two task slots and no beat, so no sweeper: nothing but RabbitMQ's queue and its
        # redelivery can bring a purchase to VTPass in this test.
        procs.start_worker(concurrency=2)
        in_flight = []
        for _ in range(2):
            phone = "0803" + "".join(random.choices("0123456789", k=7))
            simulator.script(phone, "charge_then_hang", stall_s=6)  # charged, answered late
            in_flight.append(buy(phone))
        wait_for(
            lambda: all(status(p) == "processing" for p in in_flight),
            timeout=30,
            what="both slots busy inside VTPass",
        )
        # Confirmed by RabbitMQ, waiting in the quorum queue behind the two busy slots.
        waiting = [buy() for _ in range(5)]
        assert messages_in(rabbit, "purchases") == 5

        rabbit.stop()  # stopped with 2 messages unacked and 5 ready ...
        rabbit.start()  # ... and started again on the same data
        after = [buy() for _ in range(3)]
        every = [*in_flight, *waiting, *after]
        wait_for(
            lambda: all(status(p) in FINAL for p in every),
            timeout=120,
            interval=0.2,
            what="every purchase to settle after the restart",
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

"""The stream process (gunicorn's gevent worker) with its own Redis: status changes arrive
through pub/sub, and a Redis restart ends streams without touching purchases.

Uses its own Redis on another port, never the machine's shared one.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
import requests

from shared.models import Purchase
from shared.purchases.states import PurchaseStatus as S
from shared.purchases.states import transition
from standalone import services
from tests.conftest import ROOT, TESTDATA, settings_env
from tests.e2e.conftest import api_user
from tests.streams import Collector
from tests.support import wait_for


@pytest.fixture
def stream_process(settings, tmp_path):
    """A private Redis, the stream process on it, and an app sharing that Redis."""
    from api import create_app

    redis_port, port = services.free_port(), services.free_port()
    state = {"redis": services.start_redis(TESTDATA / f"redis-{redis_port}", redis_port)}
    # The purchase is moved by the test alone: its pay task goes to the private Redis (no
    # worker there), and a grace of an hour keeps the package's sweeper off it.
    own = settings.with_overrides(
        redis_url=f"redis://127.0.0.1:{redis_port}/0", queued_grace_s=3600.0
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VTPASS_", "PAYLINK_"))},
        **settings_env(own),
        # Far longer than any wait below: an event that arrives came through pub/sub.
        "PAYLINK_STREAM_HEARTBEAT_S": "60",
    }
    with open(tmp_path / "streams.log", "ab") as log:
        process = subprocess.Popen(
            services.stream_command(port=port), cwd=ROOT, env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    services.wait_until(lambda: services.reachable("127.0.0.1", port), timeout=60, what="streams")
    state["port"] = redis_port
    yield create_app(own), url, state
    services.stop_all([process, state["redis"]])


def move(app, purchase_id: str, to: S) -> None:
    with app.extensions["paylink"].db.transaction() as session:
        purchase = session.get(Purchase, purchase_id)
        assert transition(session, purchase, to, reason="test", actor="test")


def open_stream(url, headers, purchase_id, last_event_id=None):
    extra = {"Last-Event-ID": last_event_id} if last_event_id else {}
    return requests.get(
        f"{url}/api/v1/purchases/{purchase_id}/stream",
        headers={**headers, **extra},
        stream=True,
        timeout=(5, 90),
    )


@pytest.mark.faults
def test_changes_arrive_over_pubsub_and_a_redis_restart_only_ends_the_stream(stream_process):
    app, url, state = stream_process
    client = app.test_client()
    headers = api_user(app)
    purchase = client.post(
        "/api/v1/purchases",
        json={"service_id": "mtn", "phone": "08011111111", "amount": 100},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    ).get_json()
    reader = Collector(open_stream(url, headers, purchase["id"]))
    wait_for(lambda: reader.events, timeout=60, what="the current purchase")
    move(app, purchase["id"], S.PROCESSING)
    wait_for(lambda: len(reader.events) == 2, timeout=60, what="the change, over pub/sub")
    assert reader.heartbeats == 0

    state["redis"].kill()
    state["redis"].wait(timeout=10)
    assert reader.ended.wait(15), "the stream outlived its Redis connection"
    move(app, purchase["id"], S.PENDING)  # a purchase moves on while Redis is down
    refused = open_stream(url, headers, purchase["id"], reader.events[-1].id)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "service_unavailable"

    state["redis"] = services.start_redis(TESTDATA / f"redis-{state['port']}", state["port"])
    reopened = Collector(open_stream(url, headers, purchase["id"], reader.events[-1].id))
    wait_for(lambda: reopened.events, timeout=60, what="the change missed while Redis was down")
    move(app, purchase["id"], S.DELIVERED)
    assert reopened.ended.wait(15), "the stream stayed open after the final status"
    assert [e.data["status"] for e in reader.events + reopened.events] == [
        "queued",
        "processing",
        "pending",
        "delivered",
    ]
    with app.extensions["paylink"].db.sessions() as session:
        assert session.get(Purchase, purchase["id"]).status == "delivered"

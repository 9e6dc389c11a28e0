"""The VTPass float runs dry mid-run: purchases wait instead of dying with 018, then go through.

Uses its own Redis, worker and beat (polling the float every 0.3 s), never the shared ones.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from shared import float as vtfloat
from shared.models import Purchase
from tests.e2e.conftest import FINAL, api_user
from tests.support import wait_for


def test_empty_float_holds_purchases_and_top_up_resumes_them(
    private_stack, simulator, consistent, runtime
):
    app, _, _ = private_stack(float_poll_s=0.3, float_wait_s=600.0)
    client = app.test_client()
    headers = api_user(app)
    admin_db = runtime.db

    def buy():
        key = {"Idempotency-Key": uuid.uuid4().hex}
        body = {"service_id": "mtn", "phone": "08011111111", "amount": 100}
        response = client.post("/api/v1/purchases", json=body, headers={**headers, **key})
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    def status(purchase_id):
        return client.get(f"/api/v1/purchases/{purchase_id}", headers=headers).get_json()

    def last_float():
        with admin_db.sessions() as session:
            return vtfloat.latest(session)

    before = [buy() for _ in range(3)]
    wait_for(
        lambda: all(status(p)["status"] in FINAL for p in before),
        timeout=60,
        interval=0.2,
        what="the first purchases to settle",
    )
    try:
        simulator.control("POST", "config", BALANCE=0)
        wait_for(
            lambda: (r := last_float()) is not None and r.balance == 0,
            timeout=30,
            interval=0.1,
            what="the beat to read the empty float",
        )
        during = [buy() for _ in range(6)]

        def all_held():
            with admin_db.sessions() as session:
                rows = session.execute(select(Purchase).where(Purchase.id.in_(during))).scalars()
                return all(p.status == "queued" and p.float_wait_since for p in rows)

        wait_for(all_held, timeout=30, interval=0.1, what="the purchases to be held for the float")
        for p in during:
            story = status(p)
            assert story["status"] == "queued"
            assert any("float" in (h.get("reason") or "") for h in story["history"]), story
    finally:
        simulator.control("POST", "config", BALANCE=1_000_000)
    wait_for(
        lambda: all(status(p)["status"] in FINAL for p in during),
        timeout=60,
        interval=0.2,
        what="the held purchases to go through after the top-up",
    )
    every = [*before, *during]
    for p in every:
        story = status(p)
        assert story["status"] == "delivered", story
        assert "failed" not in [h["status"] for h in story["history"]]
    consistent(every)
    assert last_float().balance > 0

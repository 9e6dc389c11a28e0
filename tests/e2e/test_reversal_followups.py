"""A reversal whose first requery times out is still refunded, once (issue 9, items 1 and 4).

Real worker and beat: VTPass reverses a delivered purchase and notifies PayLink; the requery
that notice prompts stalls past the call deadline (the simulator holds it), so it learns
nothing. The notice stays open, the sweeper follows it up, and that requery learns the
reversal: the wallet gets its money back exactly once.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from tests.support import wait_for


@pytest.fixture
def customer(make_user, fund):
    user = make_user()
    fund(user, "50000")
    return user


@pytest.fixture
def release_stalls(simulator):
    yield
    simulator.control("POST", "release")


def test_a_reversal_whose_first_requery_times_out_is_refunded_once(
    client, buy, settle, simulator, customer, consistent, live_api, runtime, release_stalls
):
    from shared.models import AuditEntry, Journal, VTPassCallback

    phone = "0803" + "".join(random.choices("0123456789", k=7))
    simulator.script(phone, "deliver")
    purchase_id = buy(customer, service_id="mtn", phone=phone, amount=300).get_json()["id"]
    delivered = settle(customer, purchase_id)
    assert delivered["status"] == "delivered"
    request_id = delivered["request_id"]
    # The stall outlasts the whole call deadline; only /_sim/release (at the end) ends it.
    simulator.control("POST", f"transactions/{request_id}/reverse", stall_requeries=1, stall_s=120)
    done = settle(customer, purchase_id, statuses={"reversed"}, timeout=60)
    assert [h["status"] for h in done["history"]][-2:] == ["delivered", "reversed"]

    with runtime.db.sessions() as session:
        answers = session.execute(
            select(AuditEntry.detail)
            .where(AuditEntry.purchase_id == purchase_id, AuditEntry.action == "vtpass.requery")
            .order_by(AuditEntry.id)
        ).scalars()
        outcomes = [a["outcome"] for a in answers]
        refunds = session.execute(
            select(Journal.id).where(Journal.purchase_id == purchase_id, Journal.kind == "refund")
        ).all()
        notice = session.execute(
            select(VTPassCallback).where(VTPassCallback.request_id == request_id)
        ).scalar_one()
    # The first requery after the notice learned nothing (the call hit its deadline); a
    # follow-up learned the reversal.
    assert outcomes[0] == "pending" and outcomes[-1] == "reversed", outcomes
    assert notice.followups >= 1
    assert len(refunds) == 1
    wallet = client.get("/api/v1/wallet", headers=customer.headers).get_json()
    assert wallet == {"currency": "NGN", "available": "50000.00", "held": "0.00"}

    def notice_settled():
        with runtime.db.sessions() as session:
            return session.get(VTPassCallback, notice.id).handled_at is not None

    wait_for(notice_settled, timeout=30, what="the notice to be settled")
    consistent([purchase_id])

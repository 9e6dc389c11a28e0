"""VTPass's internal states (018 low float, 087 credentials) reach the customer as a message
meant for customers; operators and the audit keep VTPass's own words.
"""

from __future__ import annotations

import json
import uuid

import pytest

from shared.purchases import execution
from tests.support import wait_for


@pytest.mark.parametrize(
    ("code", "vtpass_text"), [("018", "LOW WALLET BALANCE"), ("087", "INVALID CREDENTIALS")]
)
def test_internal_vtpass_states_are_worded_for_customers(
    client, runtime, simulator, make_user, fund, buy, admin, code, vtpass_text
):
    user = make_user()
    fund(user, "1000")
    phone = "0803" + str(uuid.uuid4().int)[:7]
    simulator.script(phone, "fail", code=code, times=1)
    purchase_id = buy(user, service_id="mtn", phone=phone, amount=100).get_json()["id"]
    execution.pay_purchase(runtime.db, runtime.vtpass, purchase_id, timing=runtime.timing)

    def failed():
        body = client.get(f"/api/v1/purchases/{purchase_id}", headers=user.headers).get_json()
        return body if body["status"] == "failed" else None

    seen = wait_for(failed, what="the purchase to fail")
    assert vtpass_text.lower() not in json.dumps(seen).lower()
    assert seen["error"]["code"] == "vtpass_failed" and "not charged" in seen["error"]["message"]
    [event] = [
        e
        for e in client.get("/api/v1/events", headers=user.headers).get_json()["data"]
        if e["data"]["id"] == purchase_id
    ]
    assert vtpass_text.lower() not in json.dumps(event).lower(), "webhooks carry the same view"

    listed = client.get(
        "/api/v1/admin/purchases?status=failed&limit=100", headers=admin.headers
    ).get_json()["data"]
    [operator_view] = [p for p in listed if p["id"] == purchase_id]
    assert operator_view["error"]["vtpass_message"] == vtpass_text
    audit = client.get(
        f"/api/v1/admin/audit?purchase_id={purchase_id}", headers=admin.headers
    ).get_json()["data"]
    assert any(e["detail"].get("description") == vtpass_text for e in audit)

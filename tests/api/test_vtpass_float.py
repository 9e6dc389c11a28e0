"""The float as operators see it: the admin endpoint and the Prometheus gauges."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import delete

from shared import float as vtfloat
from shared.models import FloatReading


@pytest.fixture(autouse=True)
def no_readings(runtime):
    with runtime.db.transaction() as session:
        session.execute(delete(FloatReading))
    yield
    with runtime.db.transaction() as session:
        session.execute(delete(FloatReading))


def test_balance_endpoint_shows_the_last_reading_to_admins_only(
    client, admin, make_user, runtime, simulator
):
    url = "/api/v1/admin/vtpass/balance"
    assert client.get(url, headers=make_user().headers).status_code == 403
    empty = client.get(url, headers=admin.headers).get_json()
    assert empty["balance"] is None and empty["known"] is False and empty["low"] is False
    simulator.control("POST", "config", BALANCE=1081.82)
    try:
        low = Decimal(str(runtime.settings.float_low))
        vtfloat.check_balance(runtime.db, runtime.vtpass, low=low)
    finally:
        simulator.control("POST", "config", BALANCE=1_000_000)
    shown = client.get(url, headers=admin.headers).get_json()
    assert shown["balance"] == "1081.82" and shown["known"] is True
    assert shown["low"] is True and shown["purchases_waiting"] == 0
    assert shown["checked_at"]


def test_float_gauges_are_exported(app, runtime):
    with runtime.db.transaction() as session:
        session.add(FloatReading(balance=Decimal("10"), checked_at=vtfloat.utcnow()))
    metrics = app.extensions["metrics"]
    metrics.gauges.sample()
    text = {f.name: f for f in metrics.registry.collect()}
    assert text["paylink_vtpass_float_naira"].samples[0].value == 10.0
    assert text["paylink_vtpass_float_low"].samples[0].value == 1.0
    assert "paylink_vtpass_float_age_seconds" in text
    assert "paylink_purchases_waiting_for_float" in text

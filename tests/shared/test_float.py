"""The float gate and balance checks, on real PostgreSQL with a scripted VTPass client."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, update

from shared import float as vtfloat
from shared.db import utcnow
from shared.models import FloatReading, Purchase
from shared.purchases import execution
from shared.purchases.execution import Next
from shared.vtpass import OutcomeKind
from tests.shared import test_execution
from tests.shared.test_execution import TIMING, ScriptedVTPass, journals, load, outcome

# The same funded, queued purchases the execution tests use.
new_purchase = test_execution.new_purchase
purchase_id = test_execution.purchase_id


class Wallet:
    def __init__(self, balance: str) -> None:
        self.value = Decimal(balance)
        self.calls = 0

    def balance(self) -> Decimal:
        self.calls += 1
        return self.value


@pytest.fixture(autouse=True)
def no_readings(runtime):
    with runtime.db.transaction() as session:
        session.execute(delete(FloatReading))
    yield
    with runtime.db.transaction() as session:
        session.execute(delete(FloatReading))


def reading(runtime, balance: str, age: timedelta = timedelta(0)) -> None:
    with runtime.db.transaction() as session:
        session.add(FloatReading(balance=Decimal(balance), checked_at=utcnow() - age))


def history(runtime, purchase_id):
    with runtime.db.sessions() as session:
        p = session.get(Purchase, purchase_id)
        return [(h.status, h.reason) for h in p.history]


def test_check_balance_stores_the_figure_and_logs_error_when_low(runtime, caplog):
    got = vtfloat.check_balance(runtime.db, Wallet("1081.82"), low=Decimal("5000"))
    assert got.balance == Decimal("1081.82")
    with runtime.db.sessions() as session:
        assert vtfloat.latest(session).balance == Decimal("1081.82")
    assert any(r.levelname == "ERROR" and "float is low" in r.message for r in caplog.records)
    caplog.clear()
    vtfloat.check_balance(runtime.db, Wallet("9000"), low=Decimal("5000"))
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_known_low_float_holds_the_purchase_queued_with_a_reason(runtime, purchase_id):
    reading(runtime, "50")
    vtpass = ScriptedVTPass()
    assert execution.pay_purchase(runtime.db, vtpass, purchase_id, timing=TIMING) is Next.NOTHING
    assert vtpass.calls == []  # never sent, so it cannot die with 018
    p = load(runtime, purchase_id)
    assert p.status == "queued" and p.float_wait_since is not None
    assert "float" in history(runtime, purchase_id)[-1][1]
    # The poll re-drives it once a reading covers it, and then it is sent.
    assert vtfloat.waiting_purchases(runtime.db, vtfloat.Float(Decimal("99"), utcnow())) == []
    reading(runtime, "100000")
    with runtime.db.sessions() as session:
        top_up = vtfloat.latest(session)
    assert vtfloat.waiting_purchases(runtime.db, top_up) == [purchase_id]
    vtpass.answers.append(outcome(OutcomeKind.DELIVERED))
    execution.pay_purchase(runtime.db, vtpass, purchase_id, timing=TIMING)
    assert [c[0] for c in vtpass.calls] == ["pay"]
    p = load(runtime, purchase_id)
    assert p.status == "delivered" and p.float_wait_since is None


def test_stale_or_missing_reading_does_not_hold(runtime, new_purchase):
    vtpass = ScriptedVTPass([outcome(OutcomeKind.DELIVERED), outcome(OutcomeKind.DELIVERED)])
    first = new_purchase()
    execution.pay_purchase(runtime.db, vtpass, first, timing=TIMING)
    reading(runtime, "1", age=vtfloat.STALE_AFTER + timedelta(seconds=1))
    second = new_purchase()
    execution.pay_purchase(runtime.db, vtpass, second, timing=TIMING)
    assert load(runtime, first).status == load(runtime, second).status == "delivered"


def test_held_too_long_fails_with_funds_released(runtime, purchase_id):
    reading(runtime, "0")
    vtpass = ScriptedVTPass()
    execution.pay_purchase(runtime.db, vtpass, purchase_id, timing=TIMING)
    with runtime.db.transaction() as session:
        session.execute(
            update(Purchase)
            .where(Purchase.id == purchase_id)
            .values(float_wait_since=utcnow() - TIMING.float_wait)
        )
    execution.pay_purchase(runtime.db, vtpass, purchase_id, timing=TIMING)
    p = load(runtime, purchase_id)
    assert p.status == "failed" and p.error["code"] == "upstream_unavailable"
    assert vtpass.calls == []
    assert journals(runtime, purchase_id) == ["hold", "release"]
    # Once more does nothing: failed is final, released once.
    execution.pay_purchase(runtime.db, vtpass, purchase_id, timing=replace(TIMING))
    assert journals(runtime, purchase_id) == ["hold", "release"]


def test_018_answer_triggers_a_balance_check(runtime, purchase_id):
    vtpass = ScriptedVTPass([outcome(OutcomeKind.FAILED, code="018")])
    checks: list[int] = []
    execution.pay_purchase(
        runtime.db,
        vtpass,
        purchase_id,
        timing=TIMING,
        on_insufficient_funds=lambda: checks.append(1),
    )
    assert checks == [1]


def test_a_float_that_covers_the_amount_exactly_sends_it(runtime, purchase_id):
    reading(runtime, "100.00")  # the purchase is 100.00
    vtpass = ScriptedVTPass([outcome(OutcomeKind.DELIVERED)])
    execution.pay_purchase(runtime.db, vtpass, purchase_id, timing=TIMING)
    assert load(runtime, purchase_id).status == "delivered"


def test_a_hold_landing_before_the_midnight_renewal_keeps_the_purchase_back(
    runtime, purchase_id, monkeypatch
):
    """The start statement passes a queued purchase with yesterday's request_id to the renewal
    transaction; if another message's worker holds it for the float in between, the renewal
    must not send it."""
    from datetime import datetime

    from shared.vtpass import mint_request_id
    from shared.vtpass.request_id import LAGOS

    yesterday = mint_request_id(datetime.now(LAGOS) - timedelta(days=1))
    test_execution.set_fields(runtime, purchase_id, request_id=yesterday)
    asked = execution.start_processing

    def then_held_by_another_worker(session, pid, **kw):
        start = asked(session, pid, **kw)
        test_execution.set_fields(runtime, pid, float_wait_since=utcnow())
        return start

    monkeypatch.setattr(execution, "start_processing", then_held_by_another_worker)
    vtpass = ScriptedVTPass()  # any pay would fail the test: it has no answer to give
    assert execution.pay_purchase(runtime.db, vtpass, purchase_id, timing=TIMING) is Next.NOTHING
    assert vtpass.calls == []
    p = load(runtime, purchase_id)
    assert (p.status, p.request_id) == ("queued", yesterday)
    assert p.next_attempt_at is not None  # the sweeper re-drives it

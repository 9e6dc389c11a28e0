"""Ledger movements racing each other on one wallet, on the real PostgreSQL."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

from sqlalchemy import text

from shared import ledger


def _wait_until_blocked_on_a_lock(runtime, deadline_s: float = 30.0) -> None:
    """Poll until some backend of this database waits on a row lock (the racing hold)."""
    end = time.monotonic() + deadline_s
    with runtime.db.engine.connect() as conn:
        while time.monotonic() < end:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the purchase never waited on the wallet's lock")


def test_a_hold_that_waited_on_a_credit_is_covered_by_the_credited_balance(
    runtime, make_user, fund, buy, ledger_ok
):
    # Before the fix the waiting hold computed its new balance from the statement's snapshot
    # (50 - 60) and the CHECK refused it with a 500, though the fresh balance (70) covered it.
    user = make_user()
    fund(user, "50")
    answer: dict = {}
    with runtime.db.transaction() as session:
        ledger.credit(session, user_id=user.id, amount=Decimal("20"), reference="race", actor="t")
        racer = threading.Thread(
            target=lambda: answer.setdefault(
                "r", buy(user, service_id="mtn", phone="08011111111", amount=60)
            )
        )
        racer.start()
        _wait_until_blocked_on_a_lock(runtime)
    racer.join(30)
    response = answer["r"]
    assert response.status_code == 202, (response.status_code, response.get_json())
    with runtime.db.sessions() as session:
        assert ledger.balance(session, user.id) == ledger.Balance(
            Decimal("10.00"), Decimal("60.00")
        )
    ledger_ok()

"""The ledger under concurrency, and the database rules that back it."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from shared import ledger


def _delivered(session, purchase_id: str) -> None:
    """Mark a purchase delivered beside its hand-made capture: the ledger's invariants (checked
    by later tests over the whole database) allow a capture only on a delivered purchase."""
    session.execute(
        text("UPDATE purchases SET status = 'delivered' WHERE id = :id"), {"id": purchase_id}
    )


def test_fifty_concurrent_purchases_against_a_wallet_that_covers_ten(
    app, make_user, fund, ledger_ok
):
    user = make_user()
    fund(user, "1000")

    def buy(i):
        headers = {**user.headers, "Idempotency-Key": f"race-{i}-{uuid.uuid4().hex}"}
        body = {"service_id": "mtn", "phone": "08011111111", "amount": 100}
        return app.test_client().post("/api/v1/purchases", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = [r.status_code for r in pool.map(buy, range(50))]
    assert codes.count(202) == 10 and codes.count(402) == 40, codes
    wallet = app.test_client().get("/api/v1/wallet", headers=user.headers).get_json()
    assert Decimal(wallet["available"]) + Decimal(wallet["held"]) <= Decimal("1000")
    assert Decimal(wallet["available"]) >= 0
    ledger_ok()


def test_credit_reference_credits_once(runtime, make_user):
    user = make_user()
    with runtime.db.transaction() as session:
        first, created = ledger.credit(
            session, user_id=user.id, amount=Decimal("50"), reference="ref-1", actor="t"
        )
    with runtime.db.transaction() as session:
        again, created_again = ledger.credit(
            session, user_id=user.id, amount=Decimal("50"), reference="ref-1", actor="t"
        )
    assert created and not created_again and first.id == again.id
    with runtime.db.sessions() as session:
        assert ledger.balance(session, user.id).available == Decimal("50.00")


def test_admin_credit_replay_answers_200_with_the_same_entry(client, admin, make_user):
    user = make_user()
    url = f"/api/v1/admin/users/{user.id}/wallet/credits"
    body = {"amount": "75.50", "reference": "bank-transfer-991"}
    first = client.post(url, json=body, headers=admin.headers)
    again = client.post(url, json=body, headers=admin.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json() == again.get_json()
    # The document says so too: a client (or a fuzzer) reading it knows the replay's answer.
    spec = client.get("/api/v1/openapi.json").get_json()
    responses = spec["paths"]["/api/v1/admin/users/{user_id}/wallet/credits"]["post"]["responses"]
    assert {"201", "200", "default"} <= set(responses)
    other = client.post(url, json={**body, "amount": "80"}, headers=admin.headers)
    assert other.status_code == 422
    assert client.post(url, json=body, headers=user.headers).status_code == 403
    missing = client.post(
        "/api/v1/admin/users/usr_nobody/wallet/credits", json=body, headers=admin.headers
    )
    assert missing.status_code == 404


@pytest.mark.parametrize("second", ["capture", "release"])
def test_database_refuses_a_second_settlement(runtime, make_user, fund, buy, second):
    user = make_user()
    fund(user, "500")
    # Two held purchases, so the held balance would cover a second movement of the first.
    first = buy(user, service_id="mtn", phone="08011111111", amount=100).get_json()
    buy(user, service_id="mtn", phone="08011111111", amount=100)
    with pytest.raises(IntegrityError), runtime.db.transaction() as session:
        for kind in ("capture", second):
            ledger.settle(
                session,
                kind=kind,
                user_id=user.id,
                purchase_id=first["id"],
                amount=Decimal("100"),
                actor="t",
            )


def test_postings_and_history_are_append_only(runtime):
    for table in ("postings", "journals", "audit_log", "purchase_status_history"):
        with pytest.raises(DBAPIError, match="append-only"), runtime.db.transaction() as s:
            s.execute(text(f"UPDATE {table} SET id = id"))


def test_balance_check_constraint_is_the_last_line(runtime, make_user):
    user = make_user()
    with pytest.raises(IntegrityError), runtime.db.transaction() as session:
        ledger.ensure_wallet(session, user.id)
        session.execute(
            text("UPDATE accounts SET balance = -1 WHERE user_id = :u AND kind = 'user_available'"),
            {"u": user.id},
        )


def test_concurrent_credits_with_one_reference_credit_once(runtime, make_user):
    user = make_user()

    def credit(_):
        with runtime.db.transaction() as session:
            journal, created = ledger.credit(
                session, user_id=user.id, amount=Decimal("10"), reference="same", actor="t"
            )
            return journal.id, created

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(credit, range(10)))
    assert len({journal_id for journal_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    with runtime.db.sessions() as session:
        assert ledger.balance(session, user.id).available == Decimal("10.00")


def test_system_accounts_keep_no_running_balance(runtime, make_user):
    with runtime.db.transaction() as session:
        rows = session.execute(
            text("SELECT kind, balance FROM accounts WHERE user_id IS NULL ORDER BY kind")
        ).all()
    assert rows == [("funding", None), ("vtpass_settlement", None)]
    with pytest.raises(IntegrityError), runtime.db.transaction() as session:
        session.execute(text("UPDATE accounts SET balance = 0 WHERE kind = 'vtpass_settlement'"))
    user = make_user()
    with pytest.raises(IntegrityError), runtime.db.transaction() as session:
        session.execute(
            text("UPDATE accounts SET balance = NULL WHERE user_id = :u"), {"u": user.id}
        )


def test_a_system_balance_is_the_sum_of_its_postings(runtime, make_user, fund, buy):
    user = make_user()
    with runtime.db.sessions() as session:
        funding, settlement = (
            ledger.system_balance(session, k) for k in (ledger.FUNDING, ledger.VTPASS_SETTLEMENT)
        )
    fund(user, "300")
    purchase = buy(user, service_id="mtn", phone="08011111111", amount=120).get_json()
    with runtime.db.transaction() as session:
        ledger.settle(
            session,
            kind="capture",
            user_id=user.id,
            purchase_id=purchase["id"],
            amount=Decimal("120"),
            actor="t",
        )
        _delivered(session, purchase["id"])
    with runtime.db.sessions() as session:
        assert ledger.system_balance(session, ledger.FUNDING) == funding - Decimal("300")
        assert ledger.system_balance(session, ledger.VTPASS_SETTLEMENT) == settlement + Decimal(
            "120"
        )
        assert ledger.balance(session, user.id) == ledger.Balance(Decimal("180"), Decimal("0"))


def test_captures_of_two_wallets_do_not_wait_for_each_other(runtime, make_user, fund, buy):
    """No shared row: a capture left uncommitted does not hold up another wallet's capture."""
    ids = []
    for _ in range(2):
        user = make_user()
        fund(user, "100")
        ids.append((user.id, buy(user, service_id="mtn", phone="08011111111", amount=100)))

    def capture(session, user_id, response):
        ledger.settle(
            session,
            kind="capture",
            user_id=user_id,
            purchase_id=response.get_json()["id"],
            amount=Decimal("100"),
            actor="t",
        )
        _delivered(session, response.get_json()["id"])

    with runtime.db.transaction() as first:
        capture(first, *ids[0])
        # Still open. The second capture must not queue behind it: fail fast if it would.
        with runtime.db.transaction() as second:
            second.execute(text("SET LOCAL lock_timeout = '5s'"))
            capture(second, *ids[1])


def test_a_refused_hold_moves_nothing(runtime, make_user, fund, buy):
    user = make_user()
    fund(user, "50")
    assert buy(user, service_id="mtn", phone="08011111111", amount=60).status_code == 402
    with runtime.db.sessions() as session:
        assert ledger.balance(session, user.id) == ledger.Balance(Decimal("50"), Decimal("0"))
        journals = session.execute(
            text("SELECT kind FROM journals WHERE user_id = :u"), {"u": user.id}
        ).scalars()
        assert list(journals) == ["credit"]


def test_a_wallet_missing_an_account_moves_nothing_even_if_the_refusal_is_caught(
    runtime, make_user
):
    """The journal's statement is all or nothing by itself, not only by the caller's rollback."""
    user = make_user()
    with runtime.db.transaction() as session:
        ledger.credit(session, user_id=user.id, amount=Decimal("100"), reference="r", actor="t")
    with runtime.db.transaction() as session:
        session.execute(
            text("DELETE FROM accounts WHERE user_id = :u AND kind = 'user_held'"), {"u": user.id}
        )
        with pytest.raises(ledger.InsufficientFunds):
            ledger.hold(
                session, user_id=user.id, purchase_id="pur_none", amount=Decimal("30"), actor="t"
            )
        # The caller goes on and commits: nothing of the refused hold may be in it.
        assert ledger.balance(session, user.id).available == Decimal("100.00")
        ledger.ensure_wallet(session, user.id)
    with runtime.db.sessions() as session:
        assert ledger.balance(session, user.id) == ledger.Balance(Decimal("100"), Decimal("0"))

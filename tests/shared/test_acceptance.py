"""Accepting a new key in one statement: all of it or none of it, and replays still replayed."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import event, func, select

from shared import idempotency, ledger
from shared.db import utcnow
from shared.errors import InsufficientFunds, ValidationFailed
from shared.models import AuditEntry, IdempotencyKey, Journal, Purchase, StatusChange
from shared.products import PRODUCTS
from shared.purchases import acceptance
from shared.purchases.acceptance import accept_purchase
from shared.purchases.execution import Timing
from shared.purchases.pricing import PricedPurchase, PurchaseRequest

REQUEST = PurchaseRequest(service_id="mtn", phone="08011111111", amount=Decimal("100"))
PRICED = PricedPurchase(PRODUCTS["mtn"], Decimal("100.00"), "08011111111", None, None, None, None)


def accept(runtime, user_id, key, price=lambda _: PRICED, body=None):
    return accept_purchase(
        runtime.db,
        user_id=user_id,
        idempotency_key=key,
        raw_body=body or {"a": 1},
        request=REQUEST,
        price=price,
        timing=Timing(),
    )


def funded_user(runtime, make_user, amount="1000"):
    user = make_user()
    with runtime.db.transaction() as session:
        ledger.credit(session, user_id=user.id, amount=Decimal(amount), reference="t", actor="t")
    return user


def stored(runtime, user_id):
    """Everything an accept writes for this user, counted."""
    with runtime.db.sessions() as session:
        purchases = session.scalars(select(Purchase.id).where(Purchase.user_id == user_id)).all()
        return {
            "purchases": len(purchases),
            "history": session.scalar(
                select(func.count())
                .select_from(StatusChange)
                .where(StatusChange.purchase_id.in_(purchases or [""]))
            ),
            "holds": session.scalar(
                select(func.count())
                .select_from(Journal)
                .where(Journal.user_id == user_id, Journal.kind == "hold")
            ),
            "audit": session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.user_id == user_id, AuditEntry.purchase_id.is_not(None))
            ),
            "balance": ledger.balance(session, user_id),
        }


def test_a_new_key_is_accepted_in_one_statement_that_commits_by_itself(
    runtime, make_user, ledger_ok
):
    user = funded_user(runtime, make_user)
    seen: list[str] = []
    commits: list[bool] = []

    def statement(_conn, _cursor, sql, *_):
        seen.append(sql.split()[0])

    def commit(conn):
        commits.append(conn.connection.dbapi_connection.autocommit)

    event.listen(runtime.db.engine, "before_cursor_execute", statement)
    event.listen(runtime.db.engine, "commit", commit)
    try:
        accepted = accept(runtime, user.id, uuid.uuid4().hex)
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", statement)
        event.remove(runtime.db.engine, "commit", commit)
    assert (accepted.status, accepted.created) == (202, True)
    assert (seen, commits) == (["WITH"], [])  # no BEGIN ... COMMIT around it
    after = stored(runtime, user.id)
    assert {k: after[k] for k in ("purchases", "history", "holds", "audit")} == {
        "purchases": 1, "history": 1, "holds": 1, "audit": 2,
    }  # fmt: skip
    assert after["balance"] == ledger.Balance(Decimal("900.00"), Decimal("100.00"))
    with runtime.db.sessions() as session:
        row = session.scalars(select(IdempotencyKey).where(IdempotencyKey.user_id == user.id)).one()
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.purchase_id == accepted.purchase_id)
            .order_by(AuditEntry.id)
        ).all()
    assert (row.response_status, row.response_body, row.purchase_id, row.locked_until) == (
        202, accepted.body, accepted.purchase_id, None,
    )  # fmt: skip
    assert [(e.action, e.actor) for e in entries] == [
        ("ledger.hold", user.id), ("purchase.accepted", user.id),
    ]  # fmt: skip
    assert entries[1].detail == {"service_id": "mtn", "amount": "100.00", "key": row.key}
    ledger_ok()


def test_an_accept_that_finds_its_key_taken_keeps_nothing_of_its_own(runtime, make_user):
    """The key goes in last, after the hold: if it is taken, the hold must go with the rest."""
    user = funded_user(runtime, make_user)
    key = uuid.uuid4().hex
    with runtime.db.transaction() as session:  # a claim some earlier request holds
        session.add(
            IdempotencyKey(
                user_id=user.id, key=key, request_hash="h", locked_until=utcnow(),
                claim_token="t" * 32, created_at=utcnow(),
            )
        )  # fmt: skip
    before = stored(runtime, user.id)
    answered = acceptance._accept_at_once(
        runtime.db, user_id=user.id, key=key, fingerprint="h", priced=PRICED, timing=Timing()
    )
    assert answered is None  # for the claim-first path to answer
    assert stored(runtime, user.id) == before


def test_a_refused_accept_stores_its_refusal_and_nothing_else(runtime, make_user, ledger_ok):
    user = funded_user(runtime, make_user, amount="50")
    key = uuid.uuid4().hex
    before = stored(runtime, user.id)
    with pytest.raises(InsufficientFunds):
        accept(runtime, user.id, key)
    assert stored(runtime, user.id) == before
    refusal = {"error": {"code": "insufficient_funds", "message": InsufficientFunds.message}}
    with runtime.db.sessions() as session:
        row = session.get(IdempotencyKey, (user.id, key))
    assert (row.response_status, row.response_body, row.purchase_id) == (402, refusal, None)
    replay = accept(runtime, user.id, key)
    assert (replay.status, replay.body, replay.created) == (402, refusal, False)
    assert stored(runtime, user.id) == before
    ledger_ok()


def test_a_replay_that_no_longer_prices_gets_its_stored_answer(runtime, make_user):
    """A key's answer is replayed even if the same body would not be accepted today."""
    user = funded_user(runtime, make_user)
    key = uuid.uuid4().hex
    first = accept(runtime, user.id, key)

    def refuse(_):
        raise ValidationFailed(fields={"amount": "out of range today"})

    replay = accept(runtime, user.id, key, price=refuse)
    assert (replay.status, replay.body, replay.created) == (202, first.body, False)
    calls = []

    def counted(request):
        calls.append(request)
        refuse(request)

    with pytest.raises(ValidationFailed):  # a new key is priced once, and refused
        accept(runtime, user.id, uuid.uuid4().hex, price=counted)
    assert len(calls) == 1
    assert stored(runtime, user.id)["purchases"] == 1


def test_a_renewal_is_claimed_before_it_is_priced_so_its_replay_never_asks_vtpass(
    runtime, make_user
):
    user = funded_user(runtime, make_user)
    renewal = PurchaseRequest(service_id="dstv", phone="08011111111", customer_id="1212121212",
                              subscription_type="renew")  # fmt: skip
    priced = PricedPurchase(PRODUCTS["dstv"], Decimal("100.00"), "08011111111", "1212121212",
                            None, "renew", None)  # fmt: skip
    verified = []

    def price(request):
        verified.append(request)  # stands in for the VTPass verify
        return priced

    key = uuid.uuid4().hex
    first = accept_purchase(runtime.db, user_id=user.id, idempotency_key=key, raw_body={"r": 1},
                            request=renewal, price=price, timing=Timing())  # fmt: skip
    replay = accept_purchase(runtime.db, user_id=user.id, idempotency_key=key, raw_body={"r": 1},
                             request=renewal, price=price, timing=Timing())  # fmt: skip
    assert (first.status, replay.status, replay.body) == (202, 202, first.body)
    assert len(verified) == 1


# Interleavings on the real PostgreSQL: another connection holds the wallet's rows, the accepts
# queue behind it, and it lets go once they are all waiting.


def _connect(runtime):
    url = runtime.db.engine.url.set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False))


def _hold_wallet(runtime, user_id):
    conn = _connect(runtime)
    conn.execute("SELECT id FROM accounts WHERE user_id = %s ORDER BY kind FOR UPDATE", (user_id,))
    return conn


def _until_waiting(runtime, count, deadline_s=15.0):
    with _connect(runtime) as conn:
        conn.autocommit = True
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            waiting = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).fetchone()[0]
            if waiting >= count:
                return
            time.sleep(0.01)
    raise AssertionError(f"{count} accepts never queued on the wallet")


def _outcome(call):
    try:
        return call()
    except Exception as e:  # noqa: BLE001 - the test looks at what each got
        return e


def _race(runtime, user_id, calls):
    """Run `calls` queued on the wallet in their order (row-lock waiters are served in turn)."""
    holder = _hold_wallet(runtime, user_id)
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = []
        for queued, call in enumerate(calls, start=1):
            futures.append(pool.submit(_outcome, call))
            _until_waiting(runtime, queued)
        holder.rollback()
        holder.close()
        return [f.result() for f in futures]


def test_two_accepts_of_one_new_key_make_one_purchase_and_one_hold(runtime, make_user, ledger_ok):
    user = funded_user(runtime, make_user)
    key = uuid.uuid4().hex
    results = _race(runtime, user.id, [lambda: accept(runtime, user.id, key)] * 2)
    assert sorted((r.status, r.created) for r in results) == [(202, False), (202, True)]
    assert results[0].body == results[1].body  # the second replays the first
    assert {k: v for k, v in stored(runtime, user.id).items() if k in ("purchases", "holds")} == {
        "purchases": 1, "holds": 1,
    }  # fmt: skip
    ledger_ok()


@pytest.mark.parametrize(("funds", "answers"), [("150", [202, 402]), ("200", [202, 202])])
def test_two_new_keys_on_one_wallet_hold_only_what_it_covers(
    runtime, make_user, ledger_ok, funds, answers
):
    user = funded_user(runtime, make_user, amount=funds)
    results = _race(
        runtime, user.id, [lambda: accept(runtime, user.id, uuid.uuid4().hex) for _ in range(2)]
    )
    got = sorted(402 if isinstance(r, InsufficientFunds) else r.status for r in results)
    assert got == answers
    assert stored(runtime, user.id)["holds"] == answers.count(202)
    ledger_ok()


def test_an_accept_queued_behind_the_claim_first_path_replays_its_answer(
    runtime, make_user, ledger_ok
):
    user = funded_user(runtime, make_user)
    key = uuid.uuid4().hex
    claim = idempotency.claim(
        runtime.db, user_id=user.id, key=key, fingerprint=idempotency.request_hash({"a": 1})
    )
    first, second = _race(
        runtime,
        user.id,
        [
            lambda: acceptance._record(runtime.db, claim=claim, priced=PRICED, timing=Timing()),
            lambda: accept(runtime, user.id, key),
        ],
    )
    assert (first.status, first.created) == (202, True)
    assert (second.status, second.created, second.body) == (202, False, first.body)
    assert stored(runtime, user.id)["holds"] == 1
    ledger_ok()

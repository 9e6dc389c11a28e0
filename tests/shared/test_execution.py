"""The pay/requery rules, one by one, on real PostgreSQL with a scripted VTPass client."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update

from shared import ledger
from shared.db import utcnow
from shared.models import AuditEntry, Journal, Purchase
from shared.products import PRODUCTS
from shared.purchases import execution, sweeper
from shared.purchases.acceptance import accept_purchase
from shared.purchases.execution import Next, Timing
from shared.purchases.pricing import PricedPurchase, PurchaseRequest
from shared.vtpass import LAGOS, Outcome, OutcomeKind, classify_pay_body, mint_request_id

TIMING = Timing(
    queued_grace=timedelta(hours=1),
    publish_lease=timedelta(hours=1),
    processing_lease=timedelta(seconds=30),
    not_found_grace=timedelta(seconds=60),
    requery_delays=(10, 30),
    requery_deadline=timedelta(hours=24),
    max_pay_attempts=3,
)


@dataclass
class ScriptedVTPass:
    """Answers pay and requery from a list, and records what it was asked."""

    answers: list[Outcome] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def pay(self, *, request_id: str, **_: object) -> Outcome:
        self.calls.append(("pay", request_id))
        return self.answers.pop(0)

    def requery(self, request_id: str) -> Outcome:
        self.calls.append(("requery", request_id))
        return self.answers.pop(0)


def outcome(kind: OutcomeKind, **kw) -> Outcome:
    return Outcome(
        kind=kind, code=kw.pop("code", "000"), description=kw.pop("description", kind), **kw
    )


@pytest.fixture
def new_purchase(runtime, make_user):
    """Make a queued purchase, funded with 1000, that no worker will touch."""

    def make(service_id: str = "mtn", amount: str = "100.00") -> str:
        user = make_user()
        with runtime.db.transaction() as session:
            ledger.credit(
                session,
                user_id=user.id,
                amount=Decimal("1000"),
                reference=uuid.uuid4().hex,
                actor="test",
            )
        accepted = accept_purchase(
            runtime.db,
            user_id=user.id,
            idempotency_key=uuid.uuid4().hex,
            raw_body={},
            request=PurchaseRequest(
                service_id=service_id, phone="08011111111", amount=Decimal(amount)
            ),
            price=lambda r: PricedPurchase(
                PRODUCTS[service_id], Decimal(amount), "08011111111", None, None, None, None
            ),
            timing=TIMING,
        )
        return accepted.purchase_id

    return make


@pytest.fixture
def purchase_id(new_purchase):
    """A queued, funded airtime purchase of 100 that no worker will touch."""
    return new_purchase()


def load(runtime, purchase_id) -> Purchase:
    with runtime.db.sessions() as session:
        return session.get(Purchase, purchase_id)


def journals(runtime, purchase_id) -> list[str]:
    with runtime.db.sessions() as session:
        return sorted(j.kind for j in session.query(Journal).filter_by(purchase_id=purchase_id))


def pay(runtime, purchase_id, vtpass):
    return execution.pay_purchase(runtime.db, vtpass, purchase_id, timing=TIMING)


def requery(runtime, purchase_id, vtpass):
    return execution.requery_purchase(runtime.db, vtpass, purchase_id, timing=TIMING)


def set_fields(runtime, purchase_id, **values):
    with runtime.db.transaction() as session:
        session.execute(update(Purchase).where(Purchase.id == purchase_id).values(**values))


def test_delivered_captures(runtime, purchase_id, ledger_ok):
    vtpass = ScriptedVTPass(
        [outcome(OutcomeKind.DELIVERED, transaction_id="T1", receipt={"token": "123"})]
    )
    assert pay(runtime, purchase_id, vtpass) is Next.NOTHING
    p = load(runtime, purchase_id)
    assert (p.status, p.vtpass_transaction_id, p.receipt) == ("delivered", "T1", {"token": "123"})
    assert journals(runtime, purchase_id) == ["capture", "hold"]
    ledger_ok()


def test_a_delivery_without_a_receipt_stores_sql_null_not_json_null(runtime, purchase_id):
    vtpass = ScriptedVTPass([outcome(OutcomeKind.DELIVERED, transaction_id="T1", receipt={})])
    assert pay(runtime, purchase_id, vtpass) is Next.NOTHING
    with runtime.db.sessions() as session:
        stored = session.execute(
            text(
                "SELECT status, receipt IS NULL AS no_receipt, error IS NULL AS no_error"
                " FROM purchases WHERE id = :id"
            ),
            {"id": purchase_id},
        ).one()
    assert (stored.status, stored.no_receipt, stored.no_error) == ("delivered", True, True)


def test_unknown_outcome_is_pending_never_a_second_pay(runtime, purchase_id, ledger_ok):
    vtpass = ScriptedVTPass([outcome(OutcomeKind.PENDING, code=None)])
    pay(runtime, purchase_id, vtpass)
    p = load(runtime, purchase_id)
    assert p.status == "pending" and p.pending_since is not None
    # The duplicate pay message (a kombu redelivery) does nothing.
    assert pay(runtime, purchase_id, ScriptedVTPass()) is Next.NOTHING
    assert vtpass.calls == [("pay", p.request_id)]
    assert journals(runtime, purchase_id) == ["hold"]
    ledger_ok()


def test_requery_schedule_then_delivered(runtime, purchase_id, ledger_ok):
    vtpass = ScriptedVTPass(
        [
            outcome(OutcomeKind.PENDING, code="099"),
            outcome(OutcomeKind.PENDING, code="099"),
            outcome(OutcomeKind.DELIVERED),
        ]
    )
    pay(runtime, purchase_id, vtpass)
    before = utcnow()
    requery(runtime, purchase_id, vtpass)
    p = load(runtime, purchase_id)
    assert p.requery_attempts == 1
    assert p.next_attempt_at - before >= timedelta(seconds=29)
    requery(runtime, purchase_id, vtpass)
    assert load(runtime, purchase_id).status == "delivered"
    assert [c[0] for c in vtpass.calls] == ["pay", "requery", "requery"]
    ledger_ok()


def test_failed_releases_and_is_final(runtime, purchase_id, ledger_ok):
    pay(runtime, purchase_id, ScriptedVTPass([outcome(OutcomeKind.FAILED, code="016")]))
    p = load(runtime, purchase_id)
    assert p.status == "failed" and p.error["vtpass_code"] == "016"
    assert journals(runtime, purchase_id) == ["hold", "release"]
    assert requery(runtime, purchase_id, ScriptedVTPass()) is Next.NOTHING
    ledger_ok()


def test_connect_refused_goes_back_to_queued_then_gives_up(runtime, purchase_id, ledger_ok):
    not_sent = outcome(OutcomeKind.NOT_SENT, code=None)
    vtpass = ScriptedVTPass([not_sent, not_sent, not_sent])
    assert pay(runtime, purchase_id, vtpass) is Next.RETRY_PAY
    assert load(runtime, purchase_id).status == "queued"
    assert pay(runtime, purchase_id, vtpass) is Next.RETRY_PAY
    # The attempts are spent, but the budget spans minutes: an outage of seconds refunds nobody.
    assert pay(runtime, purchase_id, vtpass) is Next.RETRY_PAY
    assert load(runtime, purchase_id).status == "queued"
    set_fields(runtime, purchase_id, created_at=utcnow() - TIMING.not_sent_budget)
    vtpass.answers.append(not_sent)
    assert pay(runtime, purchase_id, vtpass) is Next.NOTHING
    p = load(runtime, purchase_id)
    assert (p.status, p.error["code"]) == ("failed", "upstream_unavailable")
    assert journals(runtime, purchase_id) == ["hold", "release"]
    ledger_ok()


def test_015_soon_after_pay_is_not_trusted(runtime, purchase_id):
    vtpass = ScriptedVTPass(
        [outcome(OutcomeKind.PENDING), outcome(OutcomeKind.NOT_FOUND, code="015")]
    )
    pay(runtime, purchase_id, vtpass)
    assert requery(runtime, purchase_id, vtpass) is Next.NOTHING
    assert load(runtime, purchase_id).status == "pending"


def test_015_after_the_grace_allows_paying_again_with_the_same_id(runtime, purchase_id, ledger_ok):
    vtpass = ScriptedVTPass(
        [
            outcome(OutcomeKind.PENDING, code=None),  # a read timeout: nothing learned
            outcome(OutcomeKind.NOT_FOUND, code="015"),
            outcome(OutcomeKind.DELIVERED),
        ]
    )
    pay(runtime, purchase_id, vtpass)
    set_fields(runtime, purchase_id, last_pay_at=utcnow() - timedelta(minutes=5))
    assert requery(runtime, purchase_id, vtpass) is Next.PAY_AGAIN
    assert load(runtime, purchase_id).status == "queued"
    pay(runtime, purchase_id, vtpass)
    p = load(runtime, purchase_id)
    assert p.status == "delivered" and p.pay_attempts == 2
    assert vtpass.calls[0][1] == vtpass.calls[2][1] == p.request_id
    ledger_ok()


@pytest.mark.parametrize(
    "acknowledgement",
    [
        outcome(OutcomeKind.PENDING, code="099"),
        outcome(OutcomeKind.PENDING, code="014"),
        outcome(OutcomeKind.PENDING, code="000", status="initiated"),
        outcome(OutcomeKind.PENDING, code=None, transaction_id="17415"),
    ],
    ids=["099", "014", "000-initiated", "transactionId"],
)
def test_015_after_vtpass_acknowledged_the_id_never_pays_again(
    runtime, purchase_id, ledger_ok, caplog, acknowledgement
):
    vtpass = ScriptedVTPass(
        [
            acknowledgement,
            outcome(OutcomeKind.NOT_FOUND, code="015"),
            outcome(OutcomeKind.NOT_FOUND, code="015"),
        ]
    )
    pay(runtime, purchase_id, vtpass)
    p = load(runtime, purchase_id)
    assert p.status == "pending" and p.vtpass_acknowledged_at is not None
    set_fields(runtime, purchase_id, last_pay_at=utcnow() - timedelta(minutes=5))
    assert requery(runtime, purchase_id, vtpass) is Next.NOTHING
    assert load(runtime, purchase_id).status == "pending"
    assert any("after acknowledging" in r.getMessage() for r in caplog.records)
    # Past the requery deadline it goes to review, funds held, never paid a second time.
    set_fields(runtime, purchase_id, pending_since=utcnow() - timedelta(hours=25))
    requery(runtime, purchase_id, vtpass)
    assert load(runtime, purchase_id).status == "review"
    assert [c for c in vtpass.calls if c[0] == "pay"] == [("pay", p.request_id)]
    assert journals(runtime, purchase_id) == ["hold"]
    ledger_ok()


def test_a_pending_answer_keeps_vtpass_s_transaction_id(runtime, purchase_id):
    pay(
        runtime,
        purchase_id,
        ScriptedVTPass([outcome(OutcomeKind.PENDING, code="099", transaction_id="17415")]),
    )
    assert load(runtime, purchase_id).vtpass_transaction_id == "17415"


def test_a_review_after_another_amount_is_not_refunded_on_a_015(runtime, purchase_id, ledger_ok):
    vtpass = ScriptedVTPass(
        [
            outcome(OutcomeKind.DELIVERED, amount=Decimal("1000"), transaction_id="17415"),
            outcome(OutcomeKind.NOT_FOUND, code="015"),
        ]
    )
    pay(runtime, purchase_id, vtpass)
    assert load(runtime, purchase_id).status == "review"
    set_fields(runtime, purchase_id, last_pay_at=utcnow() - timedelta(minutes=5))
    requery(runtime, purchase_id, vtpass)
    assert load(runtime, purchase_id).status == "review"
    assert journals(runtime, purchase_id) == ["hold"]
    ledger_ok()


def test_request_id_is_renewed_after_lagos_midnight_only_when_never_sent(runtime, purchase_id):
    yesterday = mint_request_id(datetime.now(LAGOS) - timedelta(days=1))
    set_fields(runtime, purchase_id, request_id=yesterday)
    vtpass = ScriptedVTPass([outcome(OutcomeKind.DELIVERED)])
    pay(runtime, purchase_id, vtpass)
    p = load(runtime, purchase_id)
    assert p.request_id != yesterday and p.superseded_request_ids == [yesterday]
    assert vtpass.calls == [("pay", p.request_id)]


def test_pending_past_the_deadline_goes_to_review_with_funds_held(runtime, purchase_id, ledger_ok):
    vtpass = ScriptedVTPass([outcome(OutcomeKind.PENDING), outcome(OutcomeKind.PENDING)])
    pay(runtime, purchase_id, vtpass)
    set_fields(runtime, purchase_id, pending_since=utcnow() - timedelta(hours=25))
    requery(runtime, purchase_id, vtpass)
    p = load(runtime, purchase_id)
    assert p.status == "review" and p.next_attempt_at is None
    assert journals(runtime, purchase_id) == ["hold"]
    ledger_ok()


def test_044_goes_straight_to_review(runtime, purchase_id):
    pay(
        runtime,
        purchase_id,
        ScriptedVTPass([outcome(OutcomeKind.PENDING, code="044", needs_review=True)]),
    )
    assert load(runtime, purchase_id).status == "review"


def test_delivered_can_only_become_reversed_with_a_refund(runtime, purchase_id, ledger_ok):
    pay(runtime, purchase_id, ScriptedVTPass([outcome(OutcomeKind.DELIVERED)]))
    requery(runtime, purchase_id, ScriptedVTPass([outcome(OutcomeKind.FAILED, code="016")]))
    assert load(runtime, purchase_id).status == "delivered"
    requery(runtime, purchase_id, ScriptedVTPass([outcome(OutcomeKind.REVERSED, code="040")]))
    requery(runtime, purchase_id, ScriptedVTPass([outcome(OutcomeKind.REVERSED, code="040")]))
    assert load(runtime, purchase_id).status == "reversed"
    assert journals(runtime, purchase_id) == ["capture", "hold", "refund"]
    ledger_ok()


def wallet(runtime, purchase_id) -> ledger.Balance:
    with runtime.db.sessions() as session:
        return ledger.balance(session, load(runtime, purchase_id).user_id)


def amounts(runtime, purchase_id) -> dict[str, Decimal]:
    with runtime.db.sessions() as session:
        rows = session.query(Journal).filter_by(purchase_id=purchase_id)
        return {j.kind: j.amount for j in rows}


def reversal(net: str) -> Outcome:
    """A 040 whose top-level amount is VTPass's net refund, as live answers have carried."""
    return outcome(OutcomeKind.REVERSED, code="040", amount=Decimal(net), raw={"amount": net})


def test_reversal_refunds_what_the_customer_paid_not_vtpass_net_figure(
    runtime, new_purchase, ledger_ok
):
    purchase_id = new_purchase(amount="50.00")
    pay(runtime, purchase_id, ScriptedVTPass([outcome(OutcomeKind.DELIVERED)]))
    assert wallet(runtime, purchase_id).available == Decimal("950.00")
    for _ in range(2):  # a repeated notice is requeried again: still one refund
        requery(runtime, purchase_id, ScriptedVTPass([reversal("48.5")]))
    p = load(runtime, purchase_id)
    assert p.status == "reversed"
    assert amounts(runtime, purchase_id) == {
        "hold": Decimal("50.00"),
        "capture": Decimal("50.00"),
        "refund": Decimal("50.00"),
    }
    assert journals(runtime, purchase_id) == ["capture", "hold", "refund"]
    assert wallet(runtime, purchase_id) == ledger.Balance(Decimal("1000.00"), Decimal("0.00"))
    assert "VTPass reported 48.5" in p.history[-1].reason
    with runtime.db.sessions() as session:
        exchanges = session.query(AuditEntry).filter_by(
            purchase_id=purchase_id, action="vtpass.requery"
        )
        assert {e.detail["amount"] for e in exchanges} == {"48.5"}
    ledger_ok()


def test_reversal_while_pending_releases_the_full_hold(runtime, new_purchase, ledger_ok):
    purchase_id = new_purchase(amount="50.00")
    pay(runtime, purchase_id, ScriptedVTPass([outcome(OutcomeKind.PENDING)]))
    requery(runtime, purchase_id, ScriptedVTPass([reversal("48.5")]))
    assert load(runtime, purchase_id).status == "reversed"
    assert amounts(runtime, purchase_id) == {"hold": Decimal("50.00"), "release": Decimal("50.00")}
    assert wallet(runtime, purchase_id).available == Decimal("1000.00")
    ledger_ok()


def test_two_different_tokens_are_both_on_the_receipt_and_in_the_history(runtime, new_purchase):
    purchase_id = new_purchase("portharcourt-electric", "1000.00")
    body = {
        "code": "000",
        "purchased_code": "Token : 4530 4185 7392 1176 2840",
        "token": "45304185739211769014",
        "content": {"transactions": {"status": "delivered"}},
    }
    answer = classify_pay_body(body, operation="pay")
    pay(runtime, purchase_id, ScriptedVTPass([answer]))
    p = load(runtime, purchase_id)
    assert p.status == "delivered"
    assert p.receipt["token"] == "45304185739211762840"
    assert p.receipt["token_candidates"] == ["45304185739211762840", "45304185739211769014"]
    assert "45304185739211769014" in p.history[-1].reason


def test_an_education_token_is_a_pin_whatever_the_answer_looks_like(runtime, new_purchase):
    purchase_id = new_purchase("waec-registration", "900.00")
    body = {
        "code": "001",
        "content": {"response_code": "000", "purchased_code": "Token: 0100234567890"},
    }
    pay(runtime, purchase_id, ScriptedVTPass([classify_pay_body(body, operation="pay")]))
    p = load(runtime, purchase_id)
    assert p.status == "delivered"
    assert p.receipt == {
        "purchased_code": "Token: 0100234567890",
        "pins": [{"pin": "0100234567890"}],
    }


def test_sweeper_recovers_a_purchase_abandoned_mid_call(runtime, purchase_id, ledger_ok):
    class Crash(Exception):
        pass

    class Dies(ScriptedVTPass):
        def pay(self, **kw):
            raise Crash

    with pytest.raises(Crash):
        pay(runtime, purchase_id, Dies())
    assert load(runtime, purchase_id).status == "processing"
    later = utcnow() + TIMING.processing_lease + timedelta(seconds=1)
    swept = sweeper.sweep(runtime.db, timing=TIMING, now=later)
    assert purchase_id in swept.recovered and purchase_id in swept.requery
    p = load(runtime, purchase_id)
    assert p.status == "pending"
    assert "outcome unknown" in p.history[-1].reason
    ledger_ok()


def test_sweeper_republishes_lost_queued_purchases_once_per_lease(runtime, purchase_id):
    later = utcnow() + TIMING.queued_grace + timedelta(seconds=1)
    assert purchase_id in sweeper.sweep(runtime.db, timing=TIMING, now=later).pay
    assert purchase_id not in sweeper.sweep(runtime.db, timing=TIMING, now=later).pay


def test_the_sweeper_leaves_a_backlog_to_workers_working_through_it(runtime, new_purchase):
    """A queued purchase accepted after the newest one the workers took may still have its
    message in the queue: no second copy while the queue moves; one once it stands still."""
    taken, waiting = new_purchase(), new_purchase()  # accepted in this order
    pay(runtime, taken, ScriptedVTPass([outcome(OutcomeKind.DELIVERED)]))
    set_fields(runtime, waiting, next_attempt_at=utcnow() - timedelta(seconds=1))  # due
    assert waiting not in sweeper.sweep(runtime.db, timing=TIMING).pay
    still = load(runtime, taken).last_pay_at + TIMING.queued_grace + timedelta(seconds=1)
    assert waiting in sweeper.sweep(runtime.db, timing=TIMING, now=still).pay
    # However busy the queue looks, a purchase is held back for queued_hold_max at most.
    set_fields(runtime, waiting, next_attempt_at=utcnow() - timedelta(seconds=1))
    late = load(runtime, waiting).created_at + TIMING.queued_hold_max + timedelta(seconds=1)
    set_fields(runtime, taken, last_pay_at=late - timedelta(seconds=1))  # still moving
    assert waiting in sweeper.sweep(runtime.db, timing=TIMING, now=late).pay


def test_the_sweeper_republishes_a_purchase_the_workers_have_gone_past(runtime, new_purchase):
    """Taking a purchase accepted later means this one's message was taken, or lost."""
    lost, later = new_purchase(), new_purchase()
    pay(runtime, later, ScriptedVTPass([outcome(OutcomeKind.DELIVERED)]))
    set_fields(runtime, lost, next_attempt_at=utcnow() - timedelta(seconds=1))
    assert lost in sweeper.sweep(runtime.db, timing=TIMING).pay


def test_a_stale_outcome_loses_the_compare_and_set(runtime, purchase_id, ledger_ok):
    pay(runtime, purchase_id, ScriptedVTPass([outcome(OutcomeKind.PENDING)]))
    # A requery concludes first; then the slow original answer arrives for 'processing'.
    requery(runtime, purchase_id, ScriptedVTPass([outcome(OutcomeKind.DELIVERED)]))
    late = execution.record_outcome(
        runtime.db,
        purchase_id,
        outcome(OutcomeKind.FAILED, code="016"),
        expected=execution.S.PENDING,
        operation="pay",
        timing=TIMING,
    )
    assert late is Next.NOTHING
    assert load(runtime, purchase_id).status == "delivered"
    assert journals(runtime, purchase_id) == ["capture", "hold"]
    ledger_ok()


def test_a_second_message_for_a_started_purchase_costs_one_statement_and_no_transaction(
    runtime, purchase_id
):
    """A duplicate pay message (the sweeper republished it) pays nothing and costs little."""
    from sqlalchemy import event

    pay(runtime, purchase_id, ScriptedVTPass([outcome(OutcomeKind.PENDING, code=None)]))
    seen: list[str] = []
    listener = lambda _c, _cur, statement, *_a: seen.append(statement.split()[0])  # noqa: E731
    event.listen(runtime.db.engine, "before_cursor_execute", listener)
    try:
        vtpass = ScriptedVTPass([])
        assert pay(runtime, purchase_id, vtpass) is Next.NOTHING
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", listener)
    assert vtpass.calls == []
    assert seen == ["WITH"]  # the start (the float gate's question inside) found nothing to do
    assert load(runtime, purchase_id).status == "pending"


def test_a_delivered_purchase_has_its_whole_story_in_the_audit_log_in_order(runtime, purchase_id):
    """The start (one autocommitted statement) writes its audit entry with the status change."""
    pay(runtime, purchase_id, ScriptedVTPass([outcome(OutcomeKind.DELIVERED, transaction_id="T")]))
    with runtime.db.sessions() as session:
        entries = session.execute(
            select(AuditEntry.action, AuditEntry.actor, AuditEntry.detail, AuditEntry.at)
            .where(AuditEntry.purchase_id == purchase_id)
            .order_by(AuditEntry.id)
        ).all()
        started = load(runtime, purchase_id).history[1]
    assert [e.action for e in entries] == [
        "ledger.hold", "purchase.accepted", "purchase.status", "vtpass.pay",
        "purchase.status", "ledger.capture",
    ]  # fmt: skip
    start = entries[2]
    assert (start.actor, start.detail) == (
        "worker",
        {"from": "queued", "to": "processing", "reason": "sending the pay request to VTPass"},
    )
    assert (started.status, started.at) == ("processing", start.at)
    assert entries[4].detail["to"] == "delivered"


def test_odd_characters_from_vtpass_never_stop_the_outcome_being_recorded(runtime, purchase_id):
    odd = outcome(
        OutcomeKind.DELIVERED,
        transaction_id="T" * 300,
        description="ok\x00",
        raw={"purchased_code": "Airtime\x00 ok", "weird\x00": "v\x00"},
    )
    pay(runtime, purchase_id, ScriptedVTPass([odd]))
    p = load(runtime, purchase_id)
    assert p.status == "delivered"
    assert p.receipt == {"purchased_code": "Airtime ok"}
    assert len(p.vtpass_transaction_id) == 128


def test_sweeper_sends_overdue_pending_purchases_to_review(runtime, purchase_id, ledger_ok):
    pay(runtime, purchase_id, ScriptedVTPass([outcome(OutcomeKind.PENDING)]))
    set_fields(runtime, purchase_id, pending_since=utcnow() - timedelta(hours=25))
    sweeper.sweep(runtime.db, timing=TIMING)
    p = load(runtime, purchase_id)
    assert p.status == "review" and "an operator decides" in p.history[-1].reason
    assert journals(runtime, purchase_id) == ["hold"]
    ledger_ok()


def test_a_late_answer_about_an_earlier_attempt_cannot_settle_a_later_one(runtime, purchase_id):
    class Hangs(ScriptedVTPass):
        def pay(self, **kw):
            raise TimeoutError  # attempt A is still waiting on VTPass when we look again

    with pytest.raises(TimeoutError):
        pay(runtime, purchase_id, Hangs())
    first_attempt_version = load(runtime, purchase_id).version
    # The purchase moves on: pending, proven never received, queued, and attempt B starts.
    set_fields(runtime, purchase_id, status="queued")
    with pytest.raises(TimeoutError):
        pay(runtime, purchase_id, Hangs())
    assert load(runtime, purchase_id).status == "processing"
    late = execution.record_outcome(
        runtime.db,
        purchase_id,
        outcome(OutcomeKind.FAILED, code="016"),
        expected=execution.S.PROCESSING,
        expected_version=first_attempt_version,
        operation="pay",
        timing=TIMING,
    )
    assert late is Next.NOTHING
    assert load(runtime, purchase_id).status == "processing"
    assert journals(runtime, purchase_id) == ["hold"]


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [
        (0, timedelta(seconds=10)),
        (1, timedelta(seconds=30)),
        (2, timedelta(minutes=1)),
        (3, timedelta(minutes=2)),
        (4, timedelta(minutes=5)),
        (5, timedelta(minutes=10)),
        (6, timedelta(minutes=10)),
        (500, timedelta(minutes=10)),
    ],
)
def test_default_requery_schedule(attempt, delay):
    assert Timing().requery_delay(attempt) == delay
    assert Timing().requery_deadline == timedelta(hours=24)


@pytest.mark.parametrize("kind", list(OutcomeKind))
def test_only_a_pay_that_never_left_is_retried(runtime, purchase_id, kind):
    answer = pay(runtime, purchase_id, ScriptedVTPass([outcome(kind, code=None)]))
    assert (answer is Next.RETRY_PAY) is (kind is OutcomeKind.NOT_SENT)


def test_085_after_lagos_midnight_renews_the_id_and_pays_again(runtime, purchase_id, ledger_ok):
    # The pay left seconds before Lagos midnight with today's id; VTPass answered after it.
    yesterday = mint_request_id(datetime.now(LAGOS) - timedelta(days=1))
    vtpass = ScriptedVTPass(
        [outcome(OutcomeKind.FAILED, code="085"), outcome(OutcomeKind.DELIVERED)]
    )
    original = execution._start

    def start_just_before_midnight(db, pid, timing):
        start = original(db, pid, timing)
        set_fields(runtime, pid, request_id=yesterday)
        start.purchase.request_id = yesterday
        return start

    execution._start = start_just_before_midnight
    try:
        assert pay(runtime, purchase_id, vtpass) is Next.PAY_AGAIN
    finally:
        execution._start = original
    assert load(runtime, purchase_id).status == "queued"
    pay(runtime, purchase_id, vtpass)
    p = load(runtime, purchase_id)
    assert p.status == "delivered" and p.request_id != yesterday
    assert yesterday in p.superseded_request_ids
    assert journals(runtime, purchase_id) == ["capture", "hold"]
    ledger_ok()


def test_085_on_todays_id_is_a_failure(runtime, purchase_id, ledger_ok):
    pay(runtime, purchase_id, ScriptedVTPass([outcome(OutcomeKind.FAILED, code="085")]))
    assert load(runtime, purchase_id).status == "failed"
    ledger_ok()


def test_a_second_pay_restarts_the_requery_schedule(runtime, purchase_id):
    vtpass = ScriptedVTPass(
        [
            outcome(OutcomeKind.PENDING, code=None),  # read timeouts: VTPass acknowledged nothing
            outcome(OutcomeKind.PENDING, code=None),
            outcome(OutcomeKind.NOT_FOUND, code="015"),
            outcome(OutcomeKind.PENDING, code="099"),
        ]
    )
    pay(runtime, purchase_id, vtpass)
    requery(runtime, purchase_id, vtpass)
    assert load(runtime, purchase_id).requery_attempts == 1
    set_fields(runtime, purchase_id, last_pay_at=utcnow() - timedelta(minutes=5))
    assert requery(runtime, purchase_id, vtpass) is Next.PAY_AGAIN
    before = utcnow()
    pay(runtime, purchase_id, vtpass)
    p = load(runtime, purchase_id)
    assert p.status == "pending" and p.requery_attempts == 0
    # The first step (10 s), not the step the first pay had reached (30 s).
    assert p.next_attempt_at - before < timedelta(seconds=20)


def test_a_delivered_answer_with_another_amount_goes_to_review(
    runtime, purchase_id, ledger_ok, caplog
):
    vtpass = ScriptedVTPass([outcome(OutcomeKind.DELIVERED, amount=Decimal("1000"))])
    pay(runtime, purchase_id, vtpass)
    p = load(runtime, purchase_id)
    assert p.status == "review"
    assert journals(runtime, purchase_id) == ["hold"]  # funds held for the operator
    assert any("sent to review" in r.getMessage() for r in caplog.records)
    ledger_ok()


def test_a_delivered_answer_with_the_same_amount_is_delivered(runtime, purchase_id):
    pay(runtime, purchase_id, ScriptedVTPass([outcome(OutcomeKind.DELIVERED, amount=Decimal(100))]))
    assert load(runtime, purchase_id).status == "delivered"


def test_an_answer_contradicting_an_operators_resolution_is_audited_and_alerted(
    runtime, purchase_id, ledger_ok, caplog
):
    from shared.models import AuditEntry
    from shared.purchases.operator import resolve_purchase
    from shared.purchases.states import PurchaseStatus as S

    set_fields(runtime, purchase_id, status="review")
    resolve_purchase(
        runtime.db, purchase_id=purchase_id, status="failed", note="VTPass said so", operator_id="1"
    )
    # A requery that started while it was in review comes back: VTPass says delivered.
    execution.record_outcome(
        runtime.db,
        purchase_id,
        outcome(OutcomeKind.DELIVERED),
        expected=S.REVIEW,
        operation="requery",
        timing=TIMING,
    )
    assert load(runtime, purchase_id).status == "failed"  # the operator's word stands
    with runtime.db.sessions() as session:
        actions = [a.action for a in session.query(AuditEntry).filter_by(purchase_id=purchase_id)]
    assert "vtpass.contradiction" in actions
    assert any("already failed" in r.getMessage() for r in caplog.records)
    ledger_ok()


def test_a_failed_answer_about_a_delivered_purchase_is_audited_and_alerted(
    runtime, purchase_id, caplog
):
    from shared.models import AuditEntry

    vtpass = ScriptedVTPass(
        [outcome(OutcomeKind.DELIVERED), outcome(OutcomeKind.FAILED, code="016")]
    )
    pay(runtime, purchase_id, vtpass)
    requery(runtime, purchase_id, vtpass)
    assert load(runtime, purchase_id).status == "delivered"
    with runtime.db.sessions() as session:
        actions = [a.action for a in session.query(AuditEntry).filter_by(purchase_id=purchase_id)]
    assert "vtpass.contradiction" in actions
    assert any("already delivered" in r.getMessage() for r in caplog.records)


def test_a_review_purchase_keeps_vtpass_s_acknowledgement_and_is_not_refunded_on_a_015(
    runtime, purchase_id, ledger_ok
):
    vtpass = ScriptedVTPass(
        [outcome(OutcomeKind.PENDING, code="099"), outcome(OutcomeKind.NOT_FOUND, code="015")]
    )
    set_fields(runtime, purchase_id, status="review", last_pay_at=utcnow() - timedelta(minutes=10))
    requery(runtime, purchase_id, vtpass)  # VTPass: still processing it
    assert load(runtime, purchase_id).vtpass_acknowledged_at is not None
    requery(runtime, purchase_id, vtpass)  # then 015: not proof any more
    assert load(runtime, purchase_id).status == "review"
    assert journals(runtime, purchase_id) == ["hold"]
    ledger_ok()


@pytest.mark.parametrize("minted", ["today", "yesterday"])
def test_the_processing_lease_starts_when_the_purchase_becomes_processing(
    runtime, purchase_id, minted
):
    """A worker that waited for a pooled connection or for the purchase's row starts its
    lease (and last_pay_at) when it takes the row, not when it began waiting: otherwise the
    sweeper could move on a purchase whose pay is still about to leave. Both ways in: the
    one-statement start (a request_id of today) and the full transition (an id to renew)."""
    import threading

    from sqlalchemy import select, text

    if minted == "yesterday":
        set_fields(runtime, purchase_id, request_id=mint_request_id(utcnow() - timedelta(days=1)))
    started: dict[str, Purchase | None] = {}
    with runtime.db.transaction() as holder:
        holder.execute(select(Purchase).where(Purchase.id == purchase_id).with_for_update())
        worker = threading.Thread(
            target=lambda: started.update(
                p=execution._start(runtime.db, purchase_id, TIMING).purchase
            )
        )
        worker.start()
        # Wait (bounded) until the worker is blocked on the row.
        give_up = datetime.now().timestamp() + 30
        with runtime.db.sessions() as watcher:
            while not watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database() AND query ILIKE '%purchases%'"
                )
            ).scalar_one():
                assert datetime.now().timestamp() < give_up, "the worker never waited"
                watcher.rollback()
        # The row stays held a while longer (by the clock; nothing else to wait for), so a
        # time taken before the wait would be a whole `held` earlier than the release.
        clock = text("SELECT clock_timestamp()")
        waiting_since = holder.execute(clock).scalar_one()
        held = timedelta(milliseconds=400)
        while (released := holder.execute(clock).scalar_one()) - waiting_since < held:
            time.sleep(0.02)
    worker.join(30)
    purchase = started["p"]
    assert purchase is not None and purchase.status == "processing"
    # (Up to 50 ms either way: the worker's clock reading and the commit's round trip.)
    assert purchase.last_pay_at is not None
    assert purchase.last_pay_at >= released - timedelta(milliseconds=50), (
        purchase.last_pay_at - released
    )
    assert purchase.next_attempt_at is not None
    lease = purchase.next_attempt_at - purchase.last_pay_at
    assert abs(lease - TIMING.processing_lease) <= timedelta(milliseconds=5)

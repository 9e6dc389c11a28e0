"""A VTPass notice stays open until a recorded requery answer settles it (issue 9, item 1)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from shared import callbacks, ledger
from shared.callbacks import followups
from shared.db import utcnow
from shared.models import AuditEntry, Journal, Purchase, VTPassCallback
from shared.products import PRODUCTS
from shared.purchases import execution
from shared.purchases.acceptance import accept_purchase
from shared.purchases.execution import Timing
from shared.purchases.pricing import PricedPurchase, PurchaseRequest
from shared.vtpass import Outcome, OutcomeKind

TIMING = Timing(
    queued_grace=timedelta(hours=1),
    publish_lease=timedelta(hours=1),
    requery_delays=(10, 30),
)


class ScriptedVTPass:
    def __init__(self, *answers: Outcome, during=None) -> None:
        self.answers = list(answers)
        self.during = during

    def pay(self, **_: object) -> Outcome:
        return self.answers.pop(0)

    def requery(self, request_id: str) -> Outcome:
        if self.during is not None:
            self.during()
        return self.answers.pop(0)


@pytest.fixture(autouse=True)
def no_open_notices(runtime):
    """`followups.due` sweeps the whole database: each test starts with no other test's open
    notice, so a sweep sends no earlier test's delivered purchase to review."""
    with runtime.db.transaction() as session:
        session.execute(
            update(VTPassCallback)
            .where(VTPassCallback.handled_at.is_(None))
            .values(handled_at=utcnow())
        )


def answer(kind: OutcomeKind, code: str = "000") -> Outcome:
    return Outcome(kind=kind, code=code, description=kind.value, transaction_id="174159")


@pytest.fixture
def delivered(runtime, make_user):
    """A delivered airtime purchase of 100 (paid from a wallet of 1000)."""
    user = make_user()
    with runtime.db.transaction() as session:
        ledger.credit(
            session, user_id=user.id, amount=Decimal(1000), reference=uuid.uuid4().hex, actor="t"
        )
    purchase_id = accept_purchase(
        runtime.db,
        user_id=user.id,
        idempotency_key=uuid.uuid4().hex,
        raw_body={},
        request=PurchaseRequest(service_id="mtn", phone="08011111111", amount=Decimal(100)),
        price=lambda r: PricedPurchase(
            PRODUCTS["mtn"], Decimal("100.00"), "08011111111", None, None, None, None
        ),
        timing=TIMING,
    ).purchase_id
    execution.pay_purchase(
        runtime.db, ScriptedVTPass(answer(OutcomeKind.DELIVERED)), purchase_id, timing=TIMING
    )
    assert load(runtime, purchase_id).status == "delivered"
    return purchase_id


def load(runtime, purchase_id: str) -> Purchase:
    with runtime.db.sessions() as session:
        return session.get(Purchase, purchase_id)


def reversal_notice(runtime, purchase_id: str) -> None:
    request_id = load(runtime, purchase_id).request_id
    body = {
        "type": "transaction-update",
        "data": {
            "code": "040",
            "requestId": request_id,
            "marker": uuid.uuid4().hex,
            "content": {"transactions": {"status": "reversed", "transactionId": "174159"}},
        },
    }
    assert callbacks.receive_notice(runtime.db, runtime.catalog, body) == purchase_id


def open_notices(runtime, purchase_id: str) -> list[VTPassCallback]:
    request_id = load(runtime, purchase_id).request_id
    with runtime.db.sessions() as session:
        return list(
            session.execute(
                select(VTPassCallback).where(
                    VTPassCallback.request_id == request_id, VTPassCallback.handled_at.is_(None)
                )
            ).scalars()
        )


def requery(runtime, purchase_id: str, vtpass: ScriptedVTPass) -> None:
    execution.requery_purchase(runtime.db, vtpass, purchase_id, timing=TIMING)


def refunds(runtime, purchase_id: str) -> int:
    with runtime.db.sessions() as session:
        kinds = [j.kind for j in session.query(Journal).filter_by(purchase_id=purchase_id)]
    return sum(1 for k in kinds if "refund" in k or "revers" in k)


def due(runtime, now=None) -> list[str]:
    return followups.due(
        runtime.db,
        first_after=timedelta(0),
        delays=TIMING.requery_delays,
        now=now or utcnow() + timedelta(seconds=1),
    )


@pytest.mark.parametrize(
    "inconclusive",
    [
        answer(OutcomeKind.PENDING, code=None),  # a read timeout
        answer(OutcomeKind.PENDING, code="099"),
        answer(OutcomeKind.DELIVERED),  # VTPass still says delivered for a moment
    ],
    ids=["timeout", "099", "still-delivered"],
)
def test_an_inconclusive_requery_leaves_a_reversal_notice_open(runtime, delivered, inconclusive):
    reversal_notice(runtime, delivered)
    requery(runtime, delivered, ScriptedVTPass(inconclusive))
    assert load(runtime, delivered).status == "delivered"
    assert len(open_notices(runtime, delivered)) == 1
    # The sweeper follows it up, and the reversal is learned and refunded once.
    assert delivered in due(runtime)
    requery(runtime, delivered, ScriptedVTPass(answer(OutcomeKind.REVERSED, code="040")))
    assert load(runtime, delivered).status == "reversed"
    assert refunds(runtime, delivered) == 1
    assert open_notices(runtime, delivered) == []
    assert delivered not in due(runtime, now=utcnow() + timedelta(hours=1))


def test_an_answer_the_state_machine_did_not_apply_leaves_a_reversal_notice_open(
    runtime, delivered
):
    # VTPass answers `failed` about a delivered purchase: nothing moves, so nothing is settled.
    reversal_notice(runtime, delivered)
    requery(runtime, delivered, ScriptedVTPass(answer(OutcomeKind.FAILED, code="016")))
    assert load(runtime, delivered).status == "delivered"
    assert len(open_notices(runtime, delivered)) == 1
    assert delivered in due(runtime)
    requery(runtime, delivered, ScriptedVTPass(answer(OutcomeKind.REVERSED, code="040")))
    assert load(runtime, delivered).status == "reversed"
    assert refunds(runtime, delivered) == 1
    assert open_notices(runtime, delivered) == []


def test_a_notice_received_during_the_requery_stays_open(runtime, delivered):
    reversal_notice(runtime, delivered)
    later = ScriptedVTPass(
        answer(OutcomeKind.REVERSED, code="040"),
        during=lambda: reversal_notice(runtime, delivered),
    )
    requery(runtime, delivered, later)
    assert load(runtime, delivered).status == "reversed"
    # The first notice is settled; the one that came in mid-call is not.
    assert len(open_notices(runtime, delivered)) == 1


def test_a_notice_stays_open_when_recording_the_answer_fails(runtime, delivered, monkeypatch):
    reversal_notice(runtime, delivered)

    def broken(*a, **kw):
        raise RuntimeError("database went away")

    monkeypatch.setattr(execution, "record_outcome", broken)
    with pytest.raises(RuntimeError):
        requery(runtime, delivered, ScriptedVTPass(answer(OutcomeKind.REVERSED, code="040")))
    assert len(open_notices(runtime, delivered)) == 1


def test_follow_ups_are_bounded_then_an_operator_is_told(runtime, delivered, caplog):
    reversal_notice(runtime, delivered)
    now = utcnow() + timedelta(seconds=1)
    assert delivered in due(runtime, now=now)  # follow-up 1, next in 10 s
    assert delivered not in due(runtime, now=now + timedelta(seconds=5))
    assert delivered in due(runtime, now=now + timedelta(seconds=11))  # follow-up 2, next in 30 s
    assert delivered not in due(runtime, now=now + timedelta(seconds=42))  # steps spent
    assert open_notices(runtime, delivered) == []
    with runtime.db.sessions() as session:
        entries = session.execute(
            select(AuditEntry).where(
                AuditEntry.purchase_id == delivered,
                AuditEntry.action == "vtpass.notice_unsettled",
            )
        ).scalars()
        assert len(list(entries)) == 1
    assert any("never settled" in r.getMessage() for r in caplog.records)
    resolve(runtime, delivered, "delivered")


def resolve(runtime, purchase_id: str, status: str) -> None:
    from shared.purchases.operator import resolve_purchase

    resolve_purchase(
        runtime.db, purchase_id=purchase_id, status=status, note="checked", operator_id="op"
    )


def spend_followups(runtime, purchase_id: str) -> None:
    now = utcnow() + timedelta(seconds=1)
    assert purchase_id in due(runtime, now=now)
    assert purchase_id in due(runtime, now=now + timedelta(seconds=11))
    assert purchase_id not in due(runtime, now=now + timedelta(seconds=42))


def journals(runtime, purchase_id: str) -> list[str]:
    with runtime.db.sessions() as session:
        return sorted(j.kind for j in session.query(Journal).filter_by(purchase_id=purchase_id))


@pytest.mark.parametrize(
    ("resolution", "ends", "money"),
    [
        ("failed", "reversed", ["capture", "hold", "refund"]),
        ("delivered", "delivered", ["capture", "hold"]),
    ],
)
def test_a_reversal_notice_out_of_follow_ups_sends_the_purchase_to_review(
    runtime, delivered, ledger_ok, resolution, ends, money
):
    """The refund may be owed: the purchase goes to review (PayLinkPurchasesInReview pages
    someone), through the state machine, and an operator's word settles it, money once."""
    reversal_notice(runtime, delivered)
    # Every follow-up requery is inconclusive (VTPass still says delivered).
    for _ in range(2):
        requery(runtime, delivered, ScriptedVTPass(answer(OutcomeKind.DELIVERED)))
    spend_followups(runtime, delivered)
    purchase = load(runtime, delivered)
    assert purchase.status == "review"
    assert "no requery confirmed" in purchase.history[-1].reason
    # A requery that still says delivered leaves it for the operator; nothing captured twice.
    requery(runtime, delivered, ScriptedVTPass(answer(OutcomeKind.DELIVERED)))
    assert load(runtime, delivered).status == "review"
    resolve(runtime, delivered, resolution)
    assert load(runtime, delivered).status == ends
    assert journals(runtime, delivered) == money
    ledger_ok()


def test_a_reversal_learned_while_in_review_refunds_once(runtime, delivered, ledger_ok):
    reversal_notice(runtime, delivered)
    spend_followups(runtime, delivered)
    assert load(runtime, delivered).status == "review"
    # An answer VTPass gives of a failure cannot fail a captured purchase: it stays in review.
    requery(runtime, delivered, ScriptedVTPass(answer(OutcomeKind.FAILED, code="016")))
    assert load(runtime, delivered).status == "review"
    requery(runtime, delivered, ScriptedVTPass(answer(OutcomeKind.REVERSED, code="040")))
    assert load(runtime, delivered).status == "reversed"
    assert journals(runtime, delivered) == ["capture", "hold", "refund"]
    ledger_ok()


def test_a_delivered_notice_is_settled_by_a_delivered_answer(runtime, delivered):
    request_id = load(runtime, delivered).request_id
    body = {
        "type": "transaction-update",
        "data": {
            "code": "000",
            "requestId": request_id,
            "content": {"transactions": {"status": "delivered", "transactionId": "174159"}},
        },
    }
    callbacks.receive_notice(runtime.db, runtime.catalog, body)
    requery(runtime, delivered, ScriptedVTPass(answer(OutcomeKind.DELIVERED)))
    assert open_notices(runtime, delivered) == []


def test_a_notice_about_a_superseded_request_id_is_followed_up_then_an_operator_is_told(
    runtime, delivered, caplog
):
    """VTPass speaking of an id the purchase replaced (it had said it never got it) is never
    left open silently: followed up on the bounded schedule, then audited and alerted."""
    old_id = "20250101" + uuid.uuid4().hex[:16]
    with runtime.db.transaction() as session:
        session.get(Purchase, delivered).superseded_request_ids = [old_id]
    body = {
        "type": "transaction-update",
        "data": {
            "code": "040",
            "requestId": old_id,
            "content": {"transactions": {"status": "reversed", "transactionId": "99"}},
        },
    }
    assert callbacks.receive_notice(runtime.db, runtime.catalog, body) == delivered
    # An answer about the current id says nothing of the old one.
    requery(runtime, delivered, ScriptedVTPass(answer(OutcomeKind.DELIVERED)))
    now = utcnow() + timedelta(seconds=1)
    assert delivered in due(runtime, now=now)
    assert delivered in due(runtime, now=now + timedelta(seconds=11))
    assert delivered not in due(runtime, now=now + timedelta(seconds=42))
    with runtime.db.sessions() as session:
        notice = session.execute(
            select(VTPassCallback).where(VTPassCallback.request_id == old_id)
        ).scalar_one()
        assert notice.handled_at is not None
        entry = session.execute(
            select(AuditEntry).where(
                AuditEntry.purchase_id == delivered,
                AuditEntry.action == "vtpass.notice_unsettled",
            )
        ).scalar_one()
        assert entry.detail["superseded"] is True
        assert entry.detail["request_id"] == old_id
    assert any(old_id in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    # It claimed a reversal: the delivered purchase waits in review for an operator.
    assert load(runtime, delivered).status == "review"
    resolve(runtime, delivered, "delivered")


def test_with_the_default_schedule_an_unanswered_notice_ends_within_twenty_minutes(
    runtime, delivered
):
    """Follow-ups are counted when scheduled, answered or not: however many requeries are
    lost, the notice ends (audited, alerted) about 20 minutes after it arrived."""
    reversal_notice(runtime, delivered)
    timing = Timing()
    arrived = utcnow()
    now = arrived + timing.publish_lease + timedelta(seconds=1)
    while open_notices(runtime, delivered) and now < arrived + timedelta(hours=1):
        followups.due(
            runtime.db, first_after=timing.publish_lease, delays=timing.requery_delays, now=now
        )
        # Nobody answers: the next sweep that finds it due is the next step.
        (notice,) = open_notices(runtime, delivered) or (None,)
        if notice is not None:
            now = notice.next_followup_at + timedelta(seconds=1)
    assert open_notices(runtime, delivered) == []
    assert now - arrived <= timedelta(minutes=20)
    assert load(runtime, delivered).status == "review"
    resolve(runtime, delivered, "delivered")


@pytest.fixture
def failed(runtime, make_user):
    """An airtime purchase of 100 that VTPass answered failed (the funds released)."""
    user = make_user()
    with runtime.db.transaction() as session:
        ledger.credit(
            session, user_id=user.id, amount=Decimal(1000), reference=uuid.uuid4().hex, actor="t"
        )
    purchase_id = accept_purchase(
        runtime.db,
        user_id=user.id,
        idempotency_key=uuid.uuid4().hex,
        raw_body={},
        request=PurchaseRequest(service_id="mtn", phone="08011111111", amount=Decimal(100)),
        price=lambda r: PricedPurchase(
            PRODUCTS["mtn"], Decimal("100.00"), "08011111111", None, None, None, None
        ),
        timing=TIMING,
    ).purchase_id
    execution.pay_purchase(
        runtime.db,
        ScriptedVTPass(answer(OutcomeKind.FAILED, code="016")),
        purchase_id,
        timing=TIMING,
    )
    assert load(runtime, purchase_id).status == "failed"
    return purchase_id


def notice(runtime, purchase_id: str, status: str, code: str) -> None:
    body = {
        "type": "transaction-update",
        "data": {
            "code": code,
            "requestId": load(runtime, purchase_id).request_id,
            "marker": uuid.uuid4().hex,
            "content": {"transactions": {"status": status, "transactionId": "174159"}},
        },
    }
    # Nothing to requery now: the purchase is final.
    assert callbacks.receive_notice(runtime.db, runtime.catalog, body) is None


def contradictions(runtime, purchase_id: str) -> int:
    with runtime.db.sessions() as session:
        return len(
            session.execute(
                select(AuditEntry).where(
                    AuditEntry.purchase_id == purchase_id,
                    AuditEntry.action == "vtpass.notice_contradiction",
                )
            ).all()
        )


def test_a_delivered_notice_about_a_failed_purchase_is_closed_audited_and_alerted(
    runtime, failed, caplog
):
    """The customer has the money back and VTPass says it delivered: never left open
    silently."""
    notice(runtime, failed, "delivered", "000")
    assert failed not in due(runtime)  # nothing a requery could change
    assert open_notices(runtime, failed) == []
    assert contradictions(runtime, failed) == 1
    assert any("says request_id" in r.getMessage() for r in caplog.records)


def test_a_failed_notice_about_a_failed_purchase_is_closed_quietly(runtime, failed):
    notice(runtime, failed, "failed", "016")
    due(runtime)
    assert open_notices(runtime, failed) == []
    assert contradictions(runtime, failed) == 0

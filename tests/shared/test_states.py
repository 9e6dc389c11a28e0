"""The state machine's table and its guarantees."""

from __future__ import annotations

import pytest

from shared.purchases.states import ALLOWED, FINAL, PurchaseStatus, settlement_for

S = PurchaseStatus


def test_final_statuses_never_change_except_delivered_to_reversed_or_review():
    assert ALLOWED[S.FAILED] == frozenset()
    assert ALLOWED[S.REVERSED] == frozenset()
    # review: a reversal notice that no follow-up requery settled (an operator decides).
    assert ALLOWED[S.DELIVERED] == frozenset({S.REVERSED, S.REVIEW})


def test_nothing_returns_to_processing_except_from_queued():
    assert [s for s, nxt in ALLOWED.items() if S.PROCESSING in nxt] == [S.QUEUED]


@pytest.mark.parametrize(
    ("frm", "to", "money"),
    [
        (S.PROCESSING, S.DELIVERED, "capture"),
        (S.PENDING, S.FAILED, "release"),
        (S.PENDING, S.REVERSED, "release"),
        (S.REVIEW, S.REVERSED, "release"),
        (S.DELIVERED, S.REVERSED, "refund"),
        (S.QUEUED, S.PROCESSING, None),
        (S.PROCESSING, S.PENDING, None),
    ],
)
def test_each_final_status_moves_money_once(frm, to, money):
    assert settlement_for(frm, to) == money


@pytest.mark.parametrize(("to", "money"), [(S.DELIVERED, None), (S.REVERSED, "refund")])
def test_a_review_entered_from_delivered_never_captures_twice(to, money):
    assert settlement_for(S.REVIEW, to, captured=True) == money
    assert settlement_for(S.DELIVERED, S.REVIEW) is None


def test_a_captured_review_never_fails():
    from shared.purchases.states import IllegalTransition

    with pytest.raises(IllegalTransition):
        settlement_for(S.REVIEW, S.FAILED, captured=True)


def test_every_final_status_is_reachable_from_pending_or_review():
    for final in FINAL:
        assert final in ALLOWED[S.PENDING] | ALLOWED[S.REVIEW]


def test_a_transition_leaves_the_object_as_the_row_it_wrote(runtime, make_user, fund, buy):
    """The UPDATE's RETURNING fills the object: version, status and timestamps match the row."""
    from shared.models import Purchase
    from shared.purchases.states import transition

    user = make_user()
    fund(user, "500")
    purchase_id = buy(user, service_id="mtn", phone="08011111111", amount=100).get_json()["id"]
    with runtime.db.transaction() as session:
        purchase = session.get(Purchase, purchase_id)
        assert purchase is not None
        before = purchase.version
        assert transition(
            session,
            purchase,
            S.PROCESSING,
            expected=S(purchase.status),
            reason="test",
            actor="test",
            changes={"pay_attempts": Purchase.pay_attempts + 1},
        )
        seen = {c.key: getattr(purchase, c.key) for c in Purchase.__table__.columns}
        assert purchase.status == S.PROCESSING
        assert purchase.version == before + 1
        assert [h.status for h in purchase.history][-1] == "processing"
    with runtime.db.sessions() as session:
        row = session.get(Purchase, purchase_id)
        assert {c.key: getattr(row, c.key) for c in Purchase.__table__.columns} == seen

"""The state machine's table and its guarantees."""

from __future__ import annotations

import pytest

from shared.purchases.states import ALLOWED, FINAL, PurchaseStatus, settlement_for

S = PurchaseStatus


def test_final_statuses_never_change_except_delivered_to_reversed():
    assert ALLOWED[S.FAILED] == frozenset()
    assert ALLOWED[S.REVERSED] == frozenset()
    assert ALLOWED[S.DELIVERED] == frozenset({S.REVERSED})


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


def test_every_final_status_is_reachable_from_pending_or_review():
    for final in FINAL:
        assert final in ALLOWED[S.PENDING] | ALLOWED[S.REVIEW]

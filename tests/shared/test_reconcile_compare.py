"""The reconciliation's comparison rules, one by one (a pure function: no database)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.purchases.states import PurchaseStatus as S
from shared.reconcile import Finding, compare
from shared.vtpass import Outcome, OutcomeKind

K = OutcomeKind
HUNDRED = Decimal("100.00")


def answer(kind: OutcomeKind, amount: str | None = None, **kw) -> Outcome:
    return Outcome(
        kind=kind,
        code=kw.pop("code", "000"),
        description="said",
        amount=None if amount is None else Decimal(amount),
        **kw,
    )


@pytest.mark.parametrize(
    ("status", "vtpass", "expected"),
    [
        (S.DELIVERED, answer(K.DELIVERED, "100"), Finding.AGREES),
        (S.DELIVERED, answer(K.DELIVERED), Finding.AGREES),  # no amount in the answer
        (S.DELIVERED, answer(K.DELIVERED, "99.99"), Finding.AMOUNT_MISMATCH),
        (S.DELIVERED, answer(K.DELIVERED, "200"), Finding.AMOUNT_MISMATCH),
        (S.DELIVERED, answer(K.REVERSED, "96.5", code="040"), Finding.REVERSED_AT_VTPASS),
        (S.DELIVERED, answer(K.FAILED, code="016"), Finding.FAILED_AT_VTPASS),
        (S.DELIVERED, answer(K.NOT_FOUND, code="015"), Finding.UNKNOWN_AT_VTPASS),
        (S.FAILED, answer(K.DELIVERED, "100"), Finding.DELIVERED_AT_VTPASS),
        (S.REVERSED, answer(K.DELIVERED, "100"), Finding.DELIVERED_AT_VTPASS),
        (S.FAILED, answer(K.FAILED, code="016"), Finding.AGREES),
        (S.FAILED, answer(K.NOT_FOUND, code="015"), Finding.AGREES),
        (S.FAILED, answer(K.REVERSED, code="040"), Finding.AGREES),
        (S.REVERSED, answer(K.REVERSED, "3", code="040"), Finding.AGREES),  # net amount: fine
        (S.REVERSED, answer(K.FAILED, code="016"), Finding.AGREES),
        (S.DELIVERED, answer(K.PENDING, code="099"), Finding.INCONCLUSIVE),
        (S.FAILED, answer(K.PENDING, code=None), Finding.INCONCLUSIVE),  # a timeout
        (S.DELIVERED, answer(K.NOT_SENT, code=None), Finding.INCONCLUSIVE),
        # An answer about another request id proves nothing about this purchase.
        (S.DELIVERED, answer(K.PENDING, needs_review=True), Finding.INCONCLUSIVE),
        (S.FAILED, answer(K.PENDING, code="044", needs_review=True), Finding.INCONCLUSIVE),
    ],
)
def test_each_pairing_of_paylink_and_vtpass_has_its_finding(status, vtpass, expected):
    assert compare(status, HUNDRED, vtpass).finding is expected


def test_only_delivered_that_vtpass_did_not_deliver_is_refunded():
    refunding = {f for f in Finding if f.refunds}
    assert refunding == {Finding.REVERSED_AT_VTPASS, Finding.FAILED_AT_VTPASS}
    assert not Finding.AGREES.is_disagreement and not Finding.INCONCLUSIVE.is_disagreement
    assert all(f.is_disagreement for f in refunding | {Finding.AMOUNT_MISMATCH})


def test_the_note_names_both_figures_of_an_amount_mismatch():
    note = compare(S.DELIVERED, HUNDRED, answer(K.DELIVERED, "150")).note
    assert "150" in note and "100.00" in note


@pytest.mark.parametrize("status", [S.QUEUED, S.PROCESSING, S.PENDING, S.REVIEW])
def test_a_purchase_that_is_not_final_is_never_reconciled(status):
    with pytest.raises(ValueError):
        compare(status, HUNDRED, answer(K.DELIVERED, "100"))

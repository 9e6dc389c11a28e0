"""Compare what PayLink recorded about a final purchase with what VTPass now says of it.

A pure function of the purchase's status and amount and VTPass's classified requery answer
(shared/vtpass/outcome.py), so every rule has a unit test:

- PayLink delivered, VTPass delivered at the same amount: agrees.
- delivered, VTPass delivered at another amount: `amount_mismatch`, reported (an operator
  settles it with VTPass; nobody is charged or refunded by PayLink).
- delivered, VTPass reversed: `reversed_at_vtpass`; delivered, VTPass failed:
  `failed_at_vtpass`. Both are reversed through the state machine: refunded once.
- delivered, VTPass never received it (015): `unknown_at_vtpass`, reported.
- failed or reversed, VTPass delivered: `delivered_at_vtpass`, reported; the customer is never
  charged again.
- failed or reversed, VTPass failed, reversed or never received it: agrees.
- any, and VTPass delivered an earlier request_id the purchase superseded (a re-pay after a
  015): `superseded_delivered`, reported (VTPass may have delivered it twice; the float paid).
- any, and no final answer (pending, a timeout, a 5xx, an answer about another request id):
  `inconclusive`, listed in the report but not counted as a disagreement.

Only the amount of a delivered answer is compared: a reversal's amount is often VTPass's refund
net of commission (VTPASS.md), and a failure carries none.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from shared.purchases.states import PurchaseStatus as S
from shared.vtpass import Outcome, OutcomeKind


class Finding(StrEnum):
    """What a reconciliation learned about one purchase."""

    AGREES = "agrees"
    AMOUNT_MISMATCH = "amount_mismatch"
    REVERSED_AT_VTPASS = "reversed_at_vtpass"
    FAILED_AT_VTPASS = "failed_at_vtpass"
    UNKNOWN_AT_VTPASS = "unknown_at_vtpass"
    DELIVERED_AT_VTPASS = "delivered_at_vtpass"
    SUPERSEDED_DELIVERED = "superseded_delivered"
    INCONCLUSIVE = "inconclusive"

    @property
    def is_disagreement(self) -> bool:
        """Whether this finding is a disagreement (alerted and counted)."""
        return self not in (Finding.AGREES, Finding.INCONCLUSIVE)

    @property
    def refunds(self) -> bool:
        """Whether PayLink reverses the purchase (VTPass did not deliver what PayLink charged)."""
        return self in (Finding.REVERSED_AT_VTPASS, Finding.FAILED_AT_VTPASS)


@dataclass(frozen=True)
class Comparison:
    """A finding and the sentence that explains it to an operator."""

    finding: Finding
    note: str


def compare(status: S, amount: Decimal, outcome: Outcome) -> Comparison:
    """Compare a final purchase (its status and amount) with VTPass's requery answer."""
    kind = outcome.kind
    said = f"VTPass {kind.value} (code {outcome.code or '-'})"
    if kind in (OutcomeKind.PENDING, OutcomeKind.NOT_SENT) or outcome.needs_review:
        return Comparison(
            Finding.INCONCLUSIVE, f"{said}: no final answer ({outcome.description or 'unknown'})"
        )
    if status is S.DELIVERED:
        if kind is OutcomeKind.DELIVERED:
            if outcome.amount is not None and outcome.amount != amount:
                return Comparison(
                    Finding.AMOUNT_MISMATCH,
                    f"{said} at {outcome.amount}; PayLink charged the customer {amount}",
                )
            return Comparison(Finding.AGREES, said)
        if kind is OutcomeKind.REVERSED:
            return Comparison(Finding.REVERSED_AT_VTPASS, f"{said}; PayLink showed delivered")
        if kind is OutcomeKind.FAILED:
            return Comparison(Finding.FAILED_AT_VTPASS, f"{said}; PayLink showed delivered")
        return Comparison(
            Finding.UNKNOWN_AT_VTPASS,
            f"{said}: VTPass does not know the request_id; PayLink showed delivered",
        )
    if status in (S.FAILED, S.REVERSED):
        if kind is OutcomeKind.DELIVERED:
            return Comparison(
                Finding.DELIVERED_AT_VTPASS,
                f"{said}; PayLink showed {status.value} and returned the funds",
            )
        return Comparison(Finding.AGREES, said)
    raise ValueError(f"only final purchases are reconciled, not {status}")

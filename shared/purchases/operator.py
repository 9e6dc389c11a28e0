"""What operators do by hand: resolve a purchase that VTPass would not conclude, or reverse a
delivered one that VTPass confirmed it never delivered.

Money moves only through the state machine: reversing a delivered purchase is the
`delivered -> reversed` transition, whose refund the ledger makes once. A reversal VTPass
reports later (a notice, a requery, a reconciliation) then finds the purchase already reversed
and refunds nothing; an operator's reversal after VTPass's is refused. Never credit the
wallet by hand for a purchase: that credit is not tied to the purchase's status.
"""

from __future__ import annotations

from shared import audit
from shared.db import Database
from shared.errors import NotFound, ValidationFailed
from shared.models import Purchase
from shared.purchases.states import PurchaseStatus as S
from shared.purchases.states import captured, transition

# Only review: while a purchase is pending VTPass may still deliver it, and money must not be
# released before VTPass has concluded (VTPASS.md). An operator can requery a pending one.
# A delivered purchase may only be reversed (refunded once), when VTPass confirms it never
# delivered it (a reconciliation's `unknown_at_vtpass`).
RESOLVABLE = {S.REVIEW: (S.DELIVERED, S.FAILED), S.DELIVERED: (S.REVERSED,)}


def resolve_purchase(
    db: Database, *, purchase_id: str, status: str, note: str, operator_id: str
) -> Purchase:
    """Settle a purchase in review as delivered or failed, or reverse a delivered one (refund).

    One in review since delivery (its money captured) that did not deliver ends reversed.
    """
    if status not in (S.DELIVERED, S.FAILED, S.REVERSED):
        raise ValidationFailed(fields={"status": "must be 'delivered', 'failed' or 'reversed'"})
    with db.transaction() as session:
        purchase = session.get(Purchase, purchase_id, with_for_update=True)
        if purchase is None:
            raise NotFound("No such purchase.")
        allowed = RESOLVABLE.get(S(purchase.status), ())
        if status not in allowed:
            raise ValidationFailed(
                fields={
                    "status": f"the purchase is {purchase.status}; only review is resolved"
                    " (delivered or failed) and only delivered is reversed"
                }
            )
        changes = {}
        to = S(status)
        if status == S.FAILED:
            changes["error"] = {"code": "resolved_failed", "message": note}
            if captured(session, purchase_id):
                # In review since delivered (a reversal no requery confirmed): its money
                # went to VTPass, so "not delivered" is a reversal, refunded once.
                to = S.REVERSED
        if status == S.REVERSED:
            changes["error"] = {"code": "resolved_reversed", "message": note}
        moved = transition(
            session,
            purchase,
            to,
            expected=S(purchase.status),
            expected_version=purchase.version,
            reason=f"resolved by an operator: {note}",
            actor=f"admin:{operator_id}",
            changes=changes,
        )
        if not moved:
            raise ValidationFailed(fields={"status": "the purchase changed meanwhile; look again"})
        audit.record(
            session,
            actor=f"admin:{operator_id}",
            action="operator.resolve",
            purchase_id=purchase_id,
            user_id=purchase.user_id,
            detail={"status": status, "note": note},
        )
        return purchase

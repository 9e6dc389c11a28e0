"""What operators do by hand: resolve a purchase that VTPass would not conclude."""

from __future__ import annotations

from shared import audit
from shared.db import Database
from shared.errors import NotFound, ValidationFailed
from shared.models import Purchase
from shared.purchases.states import PurchaseStatus as S
from shared.purchases.states import captured, transition

# Only review: while a purchase is pending VTPass may still deliver it, and money must not be
# released before VTPass has concluded (VTPASS.md). An operator can requery a pending one.
RESOLVABLE = (S.REVIEW,)


def resolve_purchase(
    db: Database, *, purchase_id: str, status: str, note: str, operator_id: str
) -> Purchase:
    """Settle a purchase in review as delivered or failed, on an operator's word.

    One in review since delivery (its money captured) that did not deliver ends reversed.
    """
    if status not in (S.DELIVERED, S.FAILED):
        raise ValidationFailed(fields={"status": "must be 'delivered' or 'failed'"})
    with db.transaction() as session:
        purchase = session.get(Purchase, purchase_id)
        if purchase is None:
            raise NotFound("No such purchase.")
        if purchase.status not in RESOLVABLE:
            raise ValidationFailed(
                fields={"status": f"the purchase is {purchase.status}; only review is resolved"}
            )
        changes = {}
        to = S(status)
        if status == S.FAILED:
            changes["error"] = {"code": "resolved_failed", "message": note}
            if captured(session, purchase_id):
                # In review since delivered (a reversal no requery confirmed): its money
                # went to VTPass, so "not delivered" is a reversal, refunded once.
                to = S.REVERSED
        moved = transition(
            session,
            purchase,
            to,
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

"""The purchase object as the public API shows it."""

from __future__ import annotations

from typing import Any

from shared.formats import iso, money
from shared.models import Purchase


def purchase_object(purchase: Purchase, *, operator: bool = False) -> dict[str, Any]:
    """Return the documented purchase object; customers never see VTPass's internal text."""
    error = purchase.error
    if error is not None and not operator:
        error = {k: v for k, v in error.items() if k != "vtpass_message"}
    return {
        "id": purchase.id,
        "object": "purchase",
        "status": purchase.status,
        "category": purchase.category,
        "service_id": purchase.service_id,
        "amount": money(purchase.amount),
        "currency": "NGN",
        "phone": purchase.phone,
        "customer_id": purchase.customer_id,
        "variation_code": purchase.variation_code,
        "subscription_type": purchase.subscription_type,
        "quantity": purchase.quantity,
        "request_id": purchase.request_id,
        "vtpass_transaction_id": purchase.vtpass_transaction_id,
        "receipt": purchase.receipt,
        "error": error,
        "created_at": iso(purchase.created_at),
        "updated_at": iso(purchase.updated_at),
        "completed_at": iso(purchase.completed_at),
        "history": [
            {"status": h.status, "at": iso(h.at), "reason": h.reason} for h in purchase.history
        ],
    }

"""Accepting a purchase: idempotency, pricing, and holding the funds with the purchase row."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select

from shared import audit, idempotency, ledger
from shared.db import Database, new_id, utcnow
from shared.errors import IdempotencyInProgress, InsufficientFunds
from shared.models import Purchase, StatusChange
from shared.purchases.execution import Timing
from shared.purchases.pricing import PricedPurchase, PurchaseRequest
from shared.purchases.states import PurchaseStatus
from shared.purchases.views import purchase_object
from shared.vtpass import mint_request_id


@dataclass(frozen=True)
class Acceptance:
    """The response to give, and whether a new purchase now waits to be published."""

    status: int
    body: dict[str, Any]
    purchase_id: str | None
    created: bool


def accept_purchase(
    db: Database,
    *,
    user_id: str,
    idempotency_key: str,
    raw_body: Any,
    request: PurchaseRequest,
    price: Callable[[PurchaseRequest], PricedPurchase],
    timing: Timing,
) -> Acceptance:
    """Record a purchase and hold its funds once per Idempotency-Key."""
    claimed = idempotency.claim(
        db, user_id=user_id, key=idempotency_key, fingerprint=idempotency.request_hash(raw_body)
    )
    if isinstance(claimed, idempotency.StoredResponse):
        purchase_id = claimed.body.get("id") if claimed.status == 202 else None
        return Acceptance(claimed.status, claimed.body, purchase_id, created=False)
    try:
        priced = price(request)
        return _record(db, claim=claimed, priced=priced, timing=timing)
    except InsufficientFunds as e:
        # Like any answer to an accepted key, the refusal is replayed for the same key.
        body = {"error": {"code": e.code, "message": e.message}}
        with db.transaction() as session:
            idempotency.complete(session, claimed, status=e.status, body=body)
        raise
    except IdempotencyInProgress:
        raise  # taken over by a retry while this one was slow; nothing of ours was kept
    except BaseException:
        # Nothing was recorded: free the key so the client can correct and retry.
        idempotency.abandon(db, claimed)
        raise


def _record(
    db: Database, *, claim: idempotency.Claim, priced: PricedPurchase, timing: Timing
) -> Acceptance:
    user_id, key = claim.user_id, claim.key
    now = utcnow()
    # Written with Core statements, not the ORM's unit of work: an accept is the API's hottest
    # write, and its rows are new, so there is nothing for the ORM to track.
    # (`receipt` and `error` are left out: SQL NULL, not JSON null, until there is one.)
    row: dict[str, Any] = {
        "id": new_id("pur"),
        "user_id": user_id,
        "status": PurchaseStatus.QUEUED.value,
        "category": priced.product.category.value,
        "service_id": priced.product.service_id,
        "amount": priced.amount,
        "phone": priced.phone,
        "customer_id": priced.customer_id,
        "variation_code": priced.variation_code,
        "subscription_type": priced.subscription_type,
        "quantity": priced.quantity,
        "request_id": mint_request_id(now),
        "superseded_request_ids": [],
        "vtpass_transaction_id": None,
        "vtpass_acknowledged_at": None,
        "pay_attempts": 0,
        "requery_attempts": 0,
        "last_pay_at": None,
        "pending_since": None,
        # The API publishes right after commit; the sweeper steps in if that is lost.
        "next_attempt_at": now + timing.queued_grace,
        "float_wait_since": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "completed_at": None,
    }
    accepted = {"status": "queued", "reason": "accepted; funds held", "at": now}
    with db.transaction() as session:
        conn = session.connection()
        # The purchase and its first history line, in one statement.
        conn.execute(
            _insert_accepted(tuple(row)),
            {**row, **{f"history_{name}": value for name, value in accepted.items()}},
        )
        ledger.hold(
            session, user_id=user_id, purchase_id=row["id"], amount=priced.amount, actor=user_id
        )
        audit.record(
            session,
            actor=user_id,
            action="purchase.accepted",
            purchase_id=row["id"],
            user_id=user_id,
            detail={"service_id": row["service_id"], "amount": str(row["amount"]), "key": key},
        )
        # The answer shows the row as just written, its history this one entry: no re-read.
        # (A transient object, never added to the session.)
        body = purchase_object(Purchase(**row, history=[StatusChange(**accepted)]))
        idempotency.complete(session, claim, status=202, body=body, purchase_id=row["id"])
    return Acceptance(202, body, row["id"], created=True)


_PURCHASES = cast(Table, Purchase.__table__)
_HISTORY = cast(Table, StatusChange.__table__)


@functools.cache
def _insert_accepted(columns: tuple[str, ...]) -> Any:
    """INSERT the purchase's `columns` and, from what it returns, its first history line."""
    accepted = (
        insert(_PURCHASES)
        .values({name: bindparam(name, type_=_PURCHASES.c[name].type) for name in columns})
        .returning(_PURCHASES.c.id)
        .cte("accepted")
    )
    fields = ("status", "reason", "at")
    return insert(_HISTORY).from_select(
        ["purchase_id", *fields],
        select(
            accepted.c.id,
            *(bindparam(f"history_{name}", type_=_HISTORY.c[name].type) for name in fields),
        ),
    )

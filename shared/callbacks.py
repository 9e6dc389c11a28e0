"""VTPass transaction-update callbacks: unsigned hints that prompt a requery, never proof.

A notice is stored once (deduplicated by its body); the purchase it names is requeried, and
only the requery's answer moves any money. A notice whose requery has not run yet is picked
up again by the sweeper, so a lost publish never loses a reversal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert

from shared.audit import storable
from shared.db import Database, utcnow
from shared.idempotency import request_hash
from shared.models import Purchase, VTPassCallback
from shared.purchases.states import REQUERYABLE


def callback_request_id(body: Any) -> str | None:
    """Find the request_id a transaction-update notice is about."""
    if not isinstance(body, dict):
        return None
    data: dict[str, Any] = body["data"] if isinstance(body.get("data"), dict) else body
    for key in ("requestId", "request_id"):
        if isinstance(data.get(key), str | int):
            return str(data[key])
    content = data.get("content")
    transactions = content.get("transactions") if isinstance(content, dict) else None
    if isinstance(transactions, dict) and transactions.get("requestId"):
        return str(transactions["requestId"])
    return None


def store_callback(db: Database, body: Any) -> str | None:
    """Store a notice (once); return the purchase to requery, if it names one that can move."""
    body = storable(body)
    request_id = callback_request_id(body)
    if request_id is not None and len(request_id) > 64:
        request_id = None  # not one of ours: PayLink mints short ids
    with db.transaction() as session:
        session.execute(
            insert(VTPassCallback)
            .values(body_hash=request_hash(body), request_id=request_id, body=body)
            .on_conflict_do_update(
                index_elements=["body_hash"],
                set_={"times_received": VTPassCallback.times_received + 1},
            )
        )
        if request_id is None:
            return None
        purchase = session.execute(
            select(Purchase.id, Purchase.status).where(
                or_(
                    Purchase.request_id == request_id,
                    Purchase.superseded_request_ids.contains([request_id]),
                )
            )
        ).first()
    if purchase is None or purchase.status not in REQUERYABLE:
        return None
    return str(purchase.id)


def mark_handled(db: Database, *, request_id: str) -> None:
    """Record that the notices about this request_id have been followed by a requery."""
    with db.transaction() as session:
        session.execute(
            update(VTPassCallback)
            .where(VTPassCallback.request_id == request_id, VTPassCallback.handled_at.is_(None))
            .values(handled_at=utcnow())
        )


def unhandled(db: Database, *, older_than: timedelta, now: datetime | None = None) -> list[str]:
    """Return purchases whose notices still wait for a requery."""
    cutoff = (now or utcnow()) - older_than
    with db.sessions() as session:
        rows = session.execute(
            select(Purchase.id)
            .join(VTPassCallback, VTPassCallback.request_id == Purchase.request_id)
            .where(
                VTPassCallback.handled_at.is_(None),
                VTPassCallback.received_at < cutoff,
                Purchase.status.in_([s.value for s in REQUERYABLE]),
            )
            .distinct()
            .limit(500)
        ).scalars()
        return list(rows)

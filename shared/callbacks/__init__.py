"""VTPass notices: transaction-update callbacks are unsigned hints that prompt a requery.

A notice is stored once (deduplicated by its body). A transaction-update names a purchase,
which is requeried; only the requery's answer moves any money. A notice no requery answer has
settled yet is followed up by the sweeper (followups.py), so no reversal is ever lost. A
variations-update says a service's plans changed: its cached plans are dropped so the next
catalog answer and the next purchase use VTPass's new prices. Any other type is only stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert

from shared.audit import storable
from shared.catalog import Catalog
from shared.db import Database, utcnow
from shared.idempotency import request_hash
from shared.models import Purchase, VTPassCallback
from shared.purchases.states import REQUERYABLE

TRANSACTION_UPDATE = "transaction-update"
# VTPass has spelt it both ways.
VARIATIONS_UPDATE = frozenset({"variations-update", "variation-update"})
_SERVICE_ID_KEYS = ("serviceID", "serviceId", "service_id", "service")


@dataclass(frozen=True)
class Notice:
    """What one stored VTPass notice asks of PayLink."""

    type: str
    purchase_id: str | None = None  # transaction-update: the purchase to requery now
    service_ids: tuple[str, ...] = ()  # variations-update: whose plans changed (none: unsaid)


def notice_type(body: Any) -> str:
    """Name a notice's type; a notice without one is an older transaction-update."""
    raw = body.get("type") if isinstance(body, dict) else None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return TRANSACTION_UPDATE
    return str(raw).strip().lower().replace("_", "-")


def callback_request_id(body: Any) -> str | None:
    """Find the request_id a transaction-update notice is about."""
    if not isinstance(body, dict):
        return None
    data: dict[str, Any] = body["data"] if isinstance(body.get("data"), dict) else body
    for key in ("requestId", "request_id"):
        if isinstance(data.get(key), str | int):
            return str(data[key])
    content: dict[str, Any] = data["content"] if isinstance(data.get("content"), dict) else {}
    # The older query format puts it in content, the current one also in its transaction.
    for holder in (content, content.get("transactions")):
        if isinstance(holder, dict) and isinstance(holder.get("requestId"), str | int):
            return str(holder["requestId"])
    return None


def notice_service_ids(body: Any) -> tuple[str, ...]:
    """Find the services a variations-update notice names (its data may be one or a list)."""
    data = body.get("data") if isinstance(body, dict) else None
    items = data if isinstance(data, list) else [data, body]
    found: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        for holder in (item, item.get("content")):
            for key in _SERVICE_ID_KEYS:
                value = holder.get(key) if isinstance(holder, dict) else None
                if isinstance(value, str) and value.strip() and value.strip() not in found:
                    found.append(value.strip())
    return tuple(found)


def store_callback(db: Database, body: Any) -> Notice:
    """Store a notice (once); say what it asks for: a purchase to requery, plans to refresh."""
    body = storable(body)
    kind = notice_type(body)
    request_id = callback_request_id(body) if kind == TRANSACTION_UPDATE else None
    if request_id is not None and len(request_id) > 64:
        request_id = None  # not one of ours: PayLink mints short ids
    with db.transaction() as session:
        session.execute(
            insert(VTPassCallback)
            .values(
                body_hash=request_hash(body),
                request_id=request_id,
                body=body,
                # Only a transaction-update waits for a requery; any other type is done here.
                handled_at=None if kind == TRANSACTION_UPDATE else utcnow(),
            )
            .on_conflict_do_update(
                index_elements=["body_hash"],
                set_={"times_received": VTPassCallback.times_received + 1},
            )
        )
        if kind in VARIATIONS_UPDATE:
            return Notice(kind, service_ids=notice_service_ids(body))
        if request_id is None:
            return Notice(kind)
        # An exact match, so an older id that is not date-prefixed still finds its purchase.
        purchase = session.execute(
            select(Purchase.id, Purchase.status).where(
                or_(
                    Purchase.request_id == request_id,
                    Purchase.superseded_request_ids.contains([request_id]),
                )
            )
        ).first()
    if purchase is None or purchase.status not in REQUERYABLE:
        return Notice(kind)
    return Notice(kind, purchase_id=str(purchase.id))


def receive_notice(db: Database, catalog: Catalog, body: Any) -> str | None:
    """Store a VTPass notice and act on its type; return the purchase to requery, if any."""
    notice = store_callback(db, body)
    if notice.type in VARIATIONS_UPDATE:
        catalog.forget_variations(notice.service_ids)
    return notice.purchase_id


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

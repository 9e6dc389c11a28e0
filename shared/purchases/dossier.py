"""What operators look up: find purchases by anything a customer quotes, and one purchase's
whole story (history, VTPass exchanges, ledger, webhooks, callbacks) in one answer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from shared.audit import audit_object
from shared.db import Database
from shared.errors import NotFound, ValidationFailed
from shared.formats import iso, money
from shared.models import (
    AuditEntry,
    Event,
    Journal,
    Purchase,
    User,
    VTPassCallback,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from shared.phones import InvalidPhone, normalise_phone
from shared.purchases.views import purchase_object
from shared.webhooks.endpoints import attempt_object


def search_purchases(db: Database, *, query: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Find purchases by id, request_id, phone or customer number, or the buyer's email."""
    text = query.strip()
    if not 1 <= len(text) <= 320:
        raise ValidationFailed(fields={"q": "must be 1 to 320 characters"})
    matches = [
        Purchase.id == text,
        Purchase.request_id == text,
        Purchase.superseded_request_ids.contains([text]),
        Purchase.customer_id == text,
        Purchase.phone == text,
        Purchase.user_id.in_(select(User.id).where(User.email == text.lower())),
    ]
    try:
        # Any usual form of a phone (+234 803 ..., 0803-...) finds the stored local form.
        matches.append(Purchase.phone == normalise_phone(text, sandbox=True))
    except InvalidPhone:
        pass
    with db.sessions() as session:
        rows = session.execute(
            select(Purchase, User.email)
            .join(User, User.id == Purchase.user_id)
            .where(or_(*matches))
            .order_by(Purchase.id.desc())
            .limit(limit + 1)
        ).all()
        found = [{**purchase_object(p), "user_email": email} for p, email in rows[:limit]]
    return found, len(rows) > limit


def purchase_dossier(db: Database, purchase_id: str) -> dict[str, Any]:
    """Return everything PayLink recorded about one purchase."""
    with db.sessions() as session:
        purchase = session.get(Purchase, purchase_id)
        if purchase is None:
            raise NotFound("No such purchase.")
        user = session.get(User, purchase.user_id)
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.purchase_id == purchase_id).order_by(AuditEntry.id)
        ).all()
        journals = session.scalars(
            select(Journal).where(Journal.purchase_id == purchase_id).order_by(Journal.created_at)
        ).all()
        request_ids = [purchase.request_id, *purchase.superseded_request_ids]
        callbacks = session.scalars(
            select(VTPassCallback)
            .where(VTPassCallback.request_id.in_(request_ids))
            .order_by(VTPassCallback.id)
        ).all()
        return {
            "purchase": purchase_object(purchase),
            "user": {"id": user.id, "email": user.email} if user else None,
            "superseded_request_ids": purchase.superseded_request_ids,
            "vtpass_exchanges": [audit_object(e) for e in audit if e.action.startswith("vtpass.")],
            "audit": [audit_object(e) for e in audit],
            "ledger": [
                {
                    "id": j.id,
                    "type": j.kind,
                    "amount": money(j.amount),
                    "actor": j.actor,
                    "created_at": iso(j.created_at),
                }
                for j in journals
            ],
            "webhooks": _webhooks(session, purchase_id),
            "callbacks": [
                {
                    "id": str(c.id),
                    "request_id": c.request_id,
                    "received_at": iso(c.received_at),
                    "times_received": c.times_received,
                    "handled_at": iso(c.handled_at),
                    "body": c.body,
                }
                for c in callbacks
            ],
        }


def _webhooks(session, purchase_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(WebhookDelivery, Event.type, WebhookEndpoint.url)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(Event.purchase_id == purchase_id)
        .order_by(WebhookDelivery.created_at)
    ).all()
    attempts: dict[str, list[dict[str, Any]]] = {}
    if rows:
        for attempt in session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_([d.id for d, _, _ in rows]))
            .order_by(WebhookAttempt.id)
        ):
            attempts.setdefault(attempt.delivery_id, []).append(attempt_object(attempt))
    return [
        {
            "id": delivery.id,
            "event_id": delivery.event_id,
            "event_type": event_type,
            "endpoint_id": delivery.endpoint_id,
            "url": url,
            "status": delivery.status,
            "attempts": attempts.get(delivery.id, []),
            "next_attempt_at": iso(delivery.next_attempt_at),
        }
        for delivery, event_type, url in rows
    ]

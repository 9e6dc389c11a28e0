"""A user's webhook endpoints: register, list, remove, rotate the secret, re-enable.

The `whsec_` secret is returned by `create_endpoint` and `rotate_secret` only; the endpoint
object shown everywhere else never carries it.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from shared.db import Database, utcnow
from shared.errors import NotFound, ValidationFailed
from shared.formats import iso
from shared.models import User, WebhookAttempt, WebhookEndpoint
from shared.webhooks.events import EVENT_TYPES
from shared.webhooks.ssrf import Resolver, UnsafeURL, check_endpoint_url

ROTATION_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    """Mint a Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def endpoint_object(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """Return the endpoint as the API shows it (never with its secret)."""
    return {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "url": endpoint.url,
        "events": endpoint.events,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": iso(endpoint.failing_since),
        "created_at": iso(endpoint.created_at),
    }


def attempt_object(attempt: WebhookAttempt) -> dict[str, Any]:
    """Return one delivery attempt as the API shows it."""
    status = attempt.http_status
    return {
        "id": f"wha_{attempt.id}",
        "delivery_id": attempt.delivery_id,
        "event_id": attempt.event_id,
        "attempt": attempt.attempt,
        "at": iso(attempt.at),
        "http_status": status,
        "succeeded": status is not None and 200 <= status < 300,
        "latency_ms": attempt.latency_ms,
        "error": attempt.error,
        "response_excerpt": attempt.response_excerpt,
    }


def checked_events(events: list[str] | None) -> list[str] | None:
    """Return the event filter without duplicates, or refuse unknown event types."""
    if events is None:
        return None
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        problem = f"unknown event type(s): {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}"
        raise ValidationFailed(fields={"events": problem})
    return list(dict.fromkeys(events))


def create_endpoint(
    db: Database,
    *,
    user_id: str,
    url: str,
    events: list[str] | None,
    allow_private: bool,
    resolver: Resolver | None = None,
    max_endpoints: int = 20,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint after the SSRF check; return it and its secret (shown once).

    A user has at most `max_endpoints` live endpoints: each one multiplies every event into a
    delivery, so an unbounded number would let one account flood the webhooks worker.
    """
    wanted = checked_events(events)
    try:
        check_endpoint_url(url, allow_private=allow_private, resolver=resolver)
    except UnsafeURL as e:
        raise ValidationFailed(fields={"url": str(e)}) from None
    secret = new_secret()
    with db.transaction() as session:
        # The user's row serialises concurrent registrations, so the count cannot be raced
        # (FOR NO KEY UPDATE: the user's accepts, whose foreign keys take KEY SHARE, go on).
        session.get(User, user_id, with_for_update={"key_share": True})
        live = session.scalar(
            select(func.count())
            .select_from(WebhookEndpoint)
            .where(WebhookEndpoint.user_id == user_id, WebhookEndpoint.deleted_at.is_(None))
        )
        if (live or 0) >= max_endpoints:
            raise ValidationFailed(
                f"An account may have at most {max_endpoints} webhook endpoints.",
                fields={"url": f"at most {max_endpoints} endpoints per account; delete one first"},
            )
        endpoint = WebhookEndpoint(user_id=user_id, url=url, events=wanted, secret=secret)
        session.add(endpoint)
        session.flush()
    return endpoint, secret


def list_endpoints(
    db: Database, *, user_id: str, limit: int, starting_after: str | None = None
) -> tuple[list[WebhookEndpoint], bool]:
    """Return a page of a user's live endpoints, oldest first, and whether more follow."""
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.user_id == user_id, WebhookEndpoint.deleted_at.is_(None)
    )
    if starting_after:
        query = query.where(WebhookEndpoint.id > starting_after)
    with db.sessions() as session:
        rows = list(session.scalars(query.order_by(WebhookEndpoint.id).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def get_endpoint(db: Database, *, user_id: str, endpoint_id: str) -> WebhookEndpoint:
    """Return one of a user's live endpoints, or raise NotFound."""
    with db.sessions() as session:
        return _owned(session, user_id, endpoint_id)


def delete_endpoint(db: Database, *, user_id: str, endpoint_id: str) -> None:
    """Remove an endpoint; its pending deliveries fail at their next attempt."""
    with db.transaction() as session:
        _owned(session, user_id, endpoint_id, lock=True).deleted_at = utcnow()


def rotate_secret(
    db: Database, *, user_id: str, endpoint_id: str, now: datetime | None = None
) -> tuple[WebhookEndpoint, str]:
    """Replace the secret; the old one keeps signing alongside it for ROTATION_OVERLAP."""
    now = now or utcnow()
    secret = new_secret()
    with db.transaction() as session:
        endpoint = _owned(session, user_id, endpoint_id, lock=True)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
        endpoint.secret = secret
    return endpoint, secret


def enable_endpoint(db: Database, *, user_id: str, endpoint_id: str) -> WebhookEndpoint:
    """Re-enable an endpoint that was disabled, with a clean failure record."""
    with db.transaction() as session:
        endpoint = _owned(session, user_id, endpoint_id, lock=True)
        endpoint.enabled = True
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    return endpoint


def recent_attempts(
    db: Database, *, user_id: str, endpoint_id: str, limit: int
) -> list[WebhookAttempt]:
    """Return an endpoint's latest delivery attempts, newest first."""
    with db.sessions() as session:
        _owned(session, user_id, endpoint_id)
        return list(
            session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.endpoint_id == endpoint_id)
                .order_by(WebhookAttempt.id.desc())
                .limit(limit)
            )
        )


def _owned(session, user_id: str, endpoint_id: str, *, lock: bool = False) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id, with_for_update=lock)
    if endpoint is None or endpoint.user_id != user_id or endpoint.deleted_at is not None:
        raise NotFound("No such webhook endpoint.")
    return endpoint

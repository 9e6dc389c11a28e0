"""Delivering events to endpoints: signed, at least once, every attempt recorded.

- A beat task leases due deliveries (`lease_due_deliveries`) for the publish lease (the
  time a queued task may wait) and publishes one task per delivery; a delivery's wait
  between attempts is its `next_attempt_at` row, never a Celery countdown (RELIABILITY.md
  section 1). A lost message only costs one publish lease.
- `deliver` claims the delivery in a short transaction, counting the attempt and pushing
  `next_attempt_at` past the publish lease plus the time one attempt may take, sends it with
  no transaction open, then records the attempt and the next step in another. A claim is
  refused while `next_attempt_at` lies beyond the publish lease, so a duplicate message
  neither sends alongside a running attempt nor skips a long backoff.
- The body is the event's frozen payload, serialised canonically, so every retry sends the
  same bytes under the same `webhook-id` (the event id) and receivers can deduplicate.
- Only 2xx is success; redirects are not followed. 410 Gone disables the endpoint, and so
  does failing continuously for longer than `DISABLE_AFTER`.
- Abuse limits: each attempt has a wall-clock deadline covering connect, headers and body
  (`deadline.py`), so no receiver holds a worker thread past it; an attempt whose result was
  never recorded (its worker died) is recorded as failed when the row is next claimed, and
  moves the schedule and the endpoint's failure clock like any failure; a delivery makes at
  most `max_attempts` attempts; and each attempt holds a slot of its endpoint's and its user's
  concurrency limit (`slots.py`), so one tenant cannot take the whole webhooks pool.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from shared.config import Settings
from shared.db import Database, utcnow
from shared.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from shared.webhooks.deadline import attempt_deadline
from shared.webhooks.deadline import expired as deadline_expired
from shared.webhooks.slots import DeliverySlots, Slot
from shared.webhooks.ssrf import UnsafeURL

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
# What the claim adds to the attempt's deadline: resolving the name, database work, slack.
ATTEMPT_MARGIN = timedelta(seconds=15)
# How long a delivery whose endpoint or user is at its concurrency limit waits to try again.
SLOT_WAIT_S = 2.0
DISABLE_AFTER = timedelta(days=3)
EXCERPT_BYTES = 1024
BATCH = 500
USER_AGENT = "PayLink-Webhooks/1"


def retry_delay(attempt: int, delays: Sequence[float], spread: float) -> float | None:
    """Return the seconds to wait after failed attempt `attempt` (1-based), or None to give up.

    `spread` in [0, 1) jitters the wait by up to 20% either way, so endpoints that failed
    together do not all come back at the same instant.
    """
    if attempt < 1 or attempt > len(delays):
        return None
    return delays[attempt - 1] * (0.8 + 0.4 * spread)


def attempt_budget(settings: Settings) -> timedelta:
    """Return how long a claim holds a delivery: longer than one attempt can take."""
    return timedelta(seconds=settings.webhook_attempt_deadline_s) + ATTEMPT_MARGIN


def max_attempts(settings: Settings) -> int:
    """Return how many attempts one delivery may make: the first and one per retry delay."""
    return len(settings.webhook_retry_delays) + 1


def canonical_body(payload: dict[str, Any]) -> str:
    """Serialise an event payload the same way on every attempt."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def signature_header(endpoint: WebhookEndpoint, msg_id: str, timestamp: datetime, body: str) -> str:
    """Sign with the current secret, and with the previous one while a rotation overlaps."""
    secrets = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > timestamp:
        secrets.append(endpoint.previous_secret)
    return " ".join(Webhook(secret).sign(msg_id, timestamp, body) for secret in secrets)


def lease_due_deliveries(
    db: Database, *, lease: timedelta, now: datetime | None = None
) -> list[str]:
    """Lease every pending delivery whose attempt is due; return their ids to publish."""
    now = now or utcnow()
    due = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    with db.transaction() as session:
        rows = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(due), WebhookDelivery.status == "pending")
            .values(next_attempt_at=now + lease)
            .returning(WebhookDelivery.id)
            .execution_options(synchronize_session=False)
        )
        return [row[0] for row in rows]


@dataclass(frozen=True)
class Claim:
    """What one attempt needs, read in the claiming transaction."""

    delivery_id: str
    endpoint_id: str
    event_id: str
    attempt: int
    url: str
    headers: dict[str, str]
    body: str
    slot: Slot | None = None


@dataclass(frozen=True)
class Result:
    """What came of one attempt."""

    http_status: int | None
    latency_ms: int
    error: str | None = None
    excerpt: str | None = None

    @property
    def ok(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


def deliver(
    db: Database,
    delivery_id: str,
    *,
    settings: Settings,
    http: requests.Session,
    slots: DeliverySlots | None = None,
) -> str:
    """Make one attempt at a delivery; return the delivery's status afterwards."""
    claim = _claim(db, delivery_id, utcnow(), settings=settings, slots=slots)
    if isinstance(claim, str):
        return claim
    try:
        result = _send(http, claim, deadline_s=settings.webhook_attempt_deadline_s)
    finally:
        if slots is not None and claim.slot is not None:
            slots.release(claim.slot)
    status = _record(db, claim, result, settings=settings, now=utcnow())
    log.info(
        "webhook %s attempt %d to %s: %s",
        claim.delivery_id,
        claim.attempt,
        claim.endpoint_id,
        result.http_status or result.error,
    )
    return status


def _claim(
    db: Database,
    delivery_id: str,
    now: datetime,
    *,
    settings: Settings,
    slots: DeliverySlots | None,
) -> Claim | str:
    lease = timedelta(seconds=settings.publish_lease_s)
    with db.transaction() as session:
        delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            return "missing"
        if delivery.status != "pending":
            return delivery.status
        due = delivery.next_attempt_at
        if due is not None and due > now + lease:
            # Another run holds it, or its backoff is not over: this message is a duplicate.
            return delivery.status
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        event = session.get(Event, delivery.event_id)
        if endpoint is None or event is None or endpoint.deleted_at or not endpoint.enabled:
            # Nobody to send to any more; the client can redeliver from the events API.
            delivery.status = "failed"
            delivery.next_attempt_at = None
            return delivery.status
        if delivery.open_attempt_at is not None:
            # The last claim's run never recorded its result (its worker died): that counts.
            abandoned = WebhookAttempt(
                delivery_id=delivery.id,
                endpoint_id=endpoint.id,
                event_id=event.id,
                attempt=delivery.attempts,
                at=delivery.open_attempt_at,
                http_status=None,
                latency_ms=round((now - delivery.open_attempt_at).total_seconds() * 1000),
                error="the attempt did not finish (its worker stopped before recording it)",
            )
            session.add(abandoned)
            return _after_failure(session, abandoned, gone=False, settings=settings, now=now)
        if delivery.attempts >= max_attempts(settings):
            delivery.status = "failed"
            delivery.next_attempt_at = None
            return delivery.status
        slot = None
        if slots is not None:
            slot = slots.acquire(endpoint_id=endpoint.id, user_id=endpoint.user_id)
            if slot is None:
                # The endpoint or its user has enough attempts in flight; come back shortly.
                delivery.next_attempt_at = now + timedelta(
                    seconds=SLOT_WAIT_S * (0.5 + random.random())
                )
                return delivery.status
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.open_attempt_at = now
        delivery.next_attempt_at = now + lease + attempt_budget(settings)
        body = canonical_body(event.payload)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": event.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature_header(endpoint, event.id, now, body),
        }
        return Claim(
            delivery_id=delivery.id,
            endpoint_id=endpoint.id,
            event_id=event.id,
            attempt=delivery.attempts,
            url=endpoint.url,
            headers=headers,
            body=body,
            slot=slot,
        )


def _send(http: requests.Session, claim: Claim, *, deadline_s: float) -> Result:
    started = time.monotonic()
    try:
        # The adapter runs the SSRF guard again and connects to the address it checked; the
        # deadline cuts the connection wherever the attempt is when it passes.
        with (
            attempt_deadline(deadline_s),
            http.post(
                claim.url,
                data=claim.body.encode(),
                headers=claim.headers,
                timeout=(min(CONNECT_TIMEOUT, deadline_s), READ_TIMEOUT),
                allow_redirects=False,
                stream=True,
            ) as response,
        ):
            try:
                raw = response.raw.read(EXCERPT_BYTES, decode_content=True) or b""
                error = None
            except Exception as e:  # noqa: BLE001 - the status line already answered
                raw, error = b"", f"body not read: {_describe(e)}"[:500]
            if deadline_expired():
                # Whatever arrived was cut off by the deadline: a half-read answer is no answer.
                raise TimeoutError("the attempt's deadline passed")
            return Result(
                http_status=response.status_code,
                latency_ms=_ms_since(started),
                error=error,
                excerpt=raw.decode("utf-8", errors="replace").replace("\x00", ""),
            )
    except UnsafeURL as e:
        return Result(None, _ms_since(started), f"not sent: {e}")
    except Exception as e:  # noqa: BLE001 - requests' and urllib3's errors alike
        if time.monotonic() - started >= deadline_s:
            cut = f"no complete answer within the {deadline_s:g} s deadline ({_describe(e)})"
            return Result(None, _ms_since(started), cut[:500])
        return Result(None, _ms_since(started), _describe(e))


def _record(
    db: Database, claim: Claim, result: Result, *, settings: Settings, now: datetime
) -> str:
    with db.transaction() as session:
        attempt = WebhookAttempt(
            delivery_id=claim.delivery_id,
            endpoint_id=claim.endpoint_id,
            event_id=claim.event_id,
            attempt=claim.attempt,
            at=now,
            http_status=result.http_status,
            latency_ms=result.latency_ms,
            error=result.error,
            response_excerpt=result.excerpt,
        )
        session.add(attempt)
        if result.ok:
            # A success counts whichever run of the task produced it.
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == claim.delivery_id, WebhookDelivery.status == "pending")
                .values(status="delivered", next_attempt_at=None, open_attempt_at=None)
            )
            session.execute(
                update(WebhookEndpoint)
                .where(
                    WebhookEndpoint.id == claim.endpoint_id,
                    WebhookEndpoint.failing_since.is_not(None),
                )
                .values(failing_since=None)
            )
            return "delivered"
        return _after_failure(
            session, attempt, gone=result.http_status == 410, settings=settings, now=now
        )


def _after_failure(
    session: Session,
    attempt: WebhookAttempt,
    *,
    gone: bool,
    settings: Settings,
    now: datetime,
) -> str:
    """Schedule the retry (or give up) and advance the endpoint's failure clock."""
    delay = (
        None
        if gone
        else retry_delay(attempt.attempt, settings.webhook_retry_delays, random.random())
    )
    status = "failed" if delay is None else "pending"
    next_attempt_at = None if delay is None else now + timedelta(seconds=delay)
    # Only the latest claim schedules: a stale run must not undo a newer one's plan.
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == attempt.delivery_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.attempts == attempt.attempt,
        )
        .values(status=status, next_attempt_at=next_attempt_at, open_attempt_at=None)
    )
    this_endpoint = WebhookEndpoint.id == attempt.endpoint_id
    session.execute(
        update(WebhookEndpoint)
        .where(this_endpoint, WebhookEndpoint.failing_since.is_(None))
        .values(failing_since=now)
        .execution_options(synchronize_session=False)
    )
    if gone:
        disable, reason = this_endpoint, "the endpoint answered 410 Gone"
    else:
        disable = this_endpoint & (WebhookEndpoint.failing_since < now - DISABLE_AFTER)
        reason = f"every attempt failed for more than {DISABLE_AFTER.days} days"
    session.execute(
        update(WebhookEndpoint)
        .where(disable, WebhookEndpoint.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return status


def _describe(error: Exception) -> str:
    """Name a transport failure briefly (the client sees it in the attempts list)."""
    return f"{type(error).__name__}: {error}"[:500]


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)

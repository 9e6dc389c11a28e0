"""Webhooks to clients: endpoints, the event outbox, deliveries and every attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, new_id, utcnow

DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookEndpoint(Base):
    """A URL a user asked PayLink to notify, with the secret its payloads are signed with."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("whe"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    # The event types this endpoint wants; SQL NULL (not JSON null) means every type.
    events: Mapped[list[str] | None] = mapped_column(JSONB(none_as_null=True))
    secret: Mapped[str] = mapped_column(String(64))
    # During a rotation the old secret signs alongside the new one until it expires.
    previous_secret: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # Set by the first failed attempt after a success; long failure disables the endpoint.
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return (
            f"WebhookEndpoint(id={self.id!r}, user_id={self.user_id!r}, enabled={self.enabled!r})"
        )


class Event(Base):
    """Something that happened to a user's purchase; its payload is frozen at creation."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_user_id_id", "user_id", "id"),
        UniqueConstraint("user_id", "seq"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("evt"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    type: Mapped[str] = mapped_column(String(64))
    purchase_id: Mapped[str | None] = mapped_column(ForeignKey("purchases.id"))
    # The event's number among its user's events (users.event_seq); null for older events.
    seq: Mapped[int | None] = mapped_column(BigInteger)
    # The whole body sent to endpoints: {id, type, created_at, data}.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookDelivery(Base):
    """The duty to get one event to one endpoint, retried until it lands or the schedule ends."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        CheckConstraint(f"status IN {DELIVERY_STATUSES!r}", name="status"),
        # The sweeper's scan: pending deliveries by when they are next due.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("whd"))
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set by a claim, cleared when its attempt is recorded: still set means its run died.
    open_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookAttempt(Base):
    """One HTTP attempt at a delivery, kept whatever its outcome (append-only)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_endpoint_id_id", "endpoint_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"))
    # Copied from the delivery so an endpoint's recent attempts are one index scan.
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    http_status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(Text)

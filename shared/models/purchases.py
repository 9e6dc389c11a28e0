"""Purchases and their status history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import Base, new_id, utcnow
from shared.models.ledger import MONEY

STATUSES = ("queued", "processing", "pending", "delivered", "failed", "reversed", "review")


class Purchase(Base):
    """One customer purchase and everything PayLink knows of its fate at VTPass."""

    __tablename__ = "purchases"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES!r}", name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_purchases_user_id_id", "user_id", "id"),
        # The sweeper's scan: non-final purchases by when they next need driving.
        Index(
            "ix_purchases_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('queued', 'processing', 'pending')"),
        ),
        # The reconciliation's scan of final purchases by completion time (shared/reconcile/).
        Index(
            "ix_purchases_completed_at",
            "completed_at",
            "id",
            postgresql_where=text("completed_at IS NOT NULL"),
        ),
        # A VTPass notice may name a superseded request id (shared/callbacks.py).
        Index(
            "ix_purchases_superseded_request_ids",
            "superseded_request_ids",
            postgresql_using="gin",
            postgresql_ops={"superseded_request_ids": "jsonb_path_ops"},
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("pur"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    category: Mapped[str] = mapped_column(String(16))
    service_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    phone: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(String(128))
    variation_code: Mapped[str | None] = mapped_column(String(128))
    subscription_type: Mapped[str | None] = mapped_column(String(16))
    quantity: Mapped[int | None] = mapped_column(Integer)
    # VTPass's idempotency key: minted once at acceptance, reused on every attempt.
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    superseded_request_ids: Mapped[list[str]] = mapped_column(JSONB, default=list)
    vtpass_transaction_id: Mapped[str | None] = mapped_column(String(128))
    # First answer showing VTPass has request_id: after it a 015 proves nothing (issue 9).
    vtpass_acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # None is SQL NULL (not JSON null), whichever path writes it: "no receipt" reads one way.
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    pay_attempts: Mapped[int] = mapped_column(Integer, default=0)
    requery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_pay_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pending_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the sweeper should next drive this purchase (publish, requery, or recover).
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set while the purchase is held back because the VTPass float is below its amount.
    float_wait_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    history: Mapped[list[StatusChange]] = relationship(
        order_by="StatusChange.id", lazy="selectin", viewonly=True
    )


class StatusChange(Base):
    """One entry of a purchase's history (append-only)."""

    __tablename__ = "purchase_status_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    purchase_id: Mapped[str] = mapped_column(ForeignKey("purchases.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

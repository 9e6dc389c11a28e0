"""Append-only records: client idempotency keys, the audit log, VTPass callbacks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, utcnow


class IdempotencyKey(Base):
    """A client's Idempotency-Key: the request it named and the response it got."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    # Set while the first request is being accepted; a crashed one is taken over after it.
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Fences a claim: only its current holder may store the response or give the key up.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    purchase_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class AuditEntry(Base):
    """Who did what, when: VTPass exchanges, status changes, ledger movements, operators."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    purchase_id: Mapped[str | None] = mapped_column(String(40), index=True)
    user_id: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class VTPassCallback(Base):
    """A transaction-update notice from VTPass, stored once; a hint, never proof."""

    __tablename__ = "vtpass_callbacks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    body_hash: Mapped[str] = mapped_column(String(64), unique=True)
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    times_received: Mapped[int] = mapped_column(Integer, default=1)
    # Set once a requery answer settled this notice, or its follow-ups ran out (alerted).
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The sweeper's own requeries for an open notice, on the REQUERY_DELAYS steps.
    followups: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_followup_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

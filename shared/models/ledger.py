"""The double-entry ledger: accounts, journals and their postings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, new_id, utcnow

MONEY = Numeric(18, 2)


class Account(Base):
    """A balance: a user's available or held money, or a system account."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("user_id", "kind"),
        CheckConstraint(
            "kind IN ('user_available', 'user_held', 'funding', 'vtpass_settlement')",
            name="kind",
        ),
        # The last line of defence: a user's money never goes below zero.
        CheckConstraint(
            "kind NOT IN ('user_available', 'user_held') OR balance >= 0",
            name="user_balance_not_negative",
        ),
        # Only a user's account keeps a running balance; a system account's is the sum of
        # its postings (shared/ledger.py: no shared hot row for every capture to lock).
        CheckConstraint(
            "(user_id IS NULL) = (balance IS NULL)", name="running_balance_only_for_users"
        ),
        Index(
            "uq_accounts_system_kind",
            "kind",
            unique=True,
            postgresql_where=text("user_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    balance: Mapped[Decimal | None] = mapped_column(MONEY)


class Journal(Base):
    """One balanced movement of money; its postings sum to zero."""

    __tablename__ = "journals"
    __table_args__ = (
        CheckConstraint("kind IN ('credit', 'hold', 'capture', 'release', 'refund')", name="kind"),
        CheckConstraint("amount > 0", name="amount_positive"),
        # Each movement happens at most once per purchase...
        UniqueConstraint("purchase_id", "kind"),
        # ...and a held purchase is either captured or released, never both.
        Index(
            "uq_journals_purchase_settlement",
            "purchase_id",
            unique=True,
            postgresql_where=text("kind IN ('capture', 'release')"),
        ),
        # An admin credit reference credits once.
        Index(
            "uq_journals_credit_reference",
            "user_id",
            "reference",
            unique=True,
            postgresql_where=text("kind = 'credit'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("jrn"))
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    purchase_id: Mapped[str | None] = mapped_column(ForeignKey("purchases.id"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    reference: Mapped[str | None] = mapped_column(String(255))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Posting(Base):
    """One side of a journal against one account (positive adds to the balance)."""

    __tablename__ = "postings"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    journal_id: Mapped[str] = mapped_column(ForeignKey("journals.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

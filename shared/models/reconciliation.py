"""Reconciliation with VTPass: runs, and what each found (shared/reconcile/)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
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
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, new_id, utcnow
from shared.models.ledger import MONEY


class ReconciliationRun(Base):
    """One requery pass over the purchases that became final in a window, and its progress."""

    __tablename__ = "reconciliation_runs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'completed', 'inconclusive')", name="status"),
        CheckConstraint("window_start < window_end", name="window"),
        # Never two runs at once: a second `running` row cannot be inserted.
        Index(
            "uq_reconciliation_runs_one_running",
            "status",
            unique=True,
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("rec"))
    status: Mapped[str] = mapped_column(String(16), default="running")
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Delivered purchases final from here to window_start are asked again, and so are the
    # purchases an earlier run since then could not conclude (NULL: the window only).
    recheck_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last purchase checked, in (completed_at, id) order: a resumed run starts after it.
    cursor_completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cursor_purchase_id: Mapped[str | None] = mapped_column(String(40))
    checked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    agreed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    disagreements: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    inconclusive: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refunded: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ReconciliationFinding(Base):
    """A purchase on which VTPass disagrees with PayLink, or could not tell (append-only)."""

    __tablename__ = "reconciliation_findings"
    __table_args__ = (UniqueConstraint("run_id", "purchase_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("reconciliation_runs.id"))
    purchase_id: Mapped[str] = mapped_column(ForeignKey("purchases.id"), index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    finding: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    paylink_status: Mapped[str] = mapped_column(String(16))
    paylink_amount: Mapped[Decimal] = mapped_column(MONEY)
    vtpass_status: Mapped[str] = mapped_column(String(16))
    vtpass_code: Mapped[str | None] = mapped_column(String(16))
    vtpass_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    vtpass_transaction_id: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str] = mapped_column(Text)
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

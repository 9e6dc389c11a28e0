"""The merchant's VTPass wallet (the float) as PayLink last saw it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, utcnow
from shared.models.ledger import MONEY


class FloatReading(Base):
    """One answer of VTPass `balance`: the figure and when it was read."""

    __tablename__ = "vtpass_float_readings"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    balance: Mapped[Decimal] = mapped_column(MONEY)
    checked_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )

"""evidence that VTPass has a purchase's request_id

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

`purchases.vtpass_acknowledged_at` is set by the first answer showing VTPass has the current
request_id (099, 014, a 000 still initiated/pending, or any answer carrying a transactionId).
Once set, a later 015 is not proof the pay never arrived: PayLink requeries on and then sends
the purchase to review instead of paying again (RELIABILITY.md: never charge twice).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "purchases", sa.Column("vtpass_acknowledged_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("purchases", "vtpass_acknowledged_at")

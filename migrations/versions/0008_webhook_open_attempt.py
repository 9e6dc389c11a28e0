"""webhook deliveries remember an attempt that has not recorded its result yet

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

A claim sets `open_attempt_at`; recording the attempt clears it. A claim that finds it still
set knows the previous run died mid-attempt, and records that attempt as failed
(shared/webhooks/delivery.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "webhook_deliveries",
        sa.Column("open_attempt_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("webhook_deliveries", "open_attempt_at")

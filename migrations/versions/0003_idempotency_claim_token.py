"""idempotency claims carry a fencing token

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

A slow first request whose key was taken over must not store its response or give the key up;
the token names the current holder of a claim (shared/idempotency.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("idempotency_keys", sa.Column("claim_token", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("idempotency_keys", "claim_token")

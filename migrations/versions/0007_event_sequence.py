"""events are numbered per user, in commit order

Revision ID: 0007
Revises: 0003
Create Date: 2026-11-28

Live streams (GET /api/v1/events/stream) resume from the last event a client saw. Event ids
are minted before their transaction commits, so two status changes can commit out of id
order; a per-user number taken under the user's row lock commits in order instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("event_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("events", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.create_unique_constraint("uq_events_user_id_seq", "events", ["user_id", "seq"])


def downgrade() -> None:
    op.drop_constraint("uq_events_user_id_seq", "events", type_="unique")
    op.drop_column("events", "seq")
    op.drop_column("users", "event_seq")

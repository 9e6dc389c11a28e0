"""VTPass notices carry their own bounded follow-up schedule

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

A notice is handled only by a requery answer that settles it (shared/callbacks/followups.py).
Until then the sweeper requeries its purchase on the REQUERY_DELAYS steps: `followups` counts
the requeries it drove, `next_followup_at` is when the next is due.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "vtpass_callbacks",
        sa.Column("followups", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "vtpass_callbacks",
        sa.Column("next_followup_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("vtpass_callbacks", "next_followup_at")
    op.drop_column("vtpass_callbacks", "followups")

"""the VTPass float: balance readings, and purchases held while it is too low

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

`vtpass_float_readings` keeps every answer of VTPass `balance` (the beat polls it every
minute; a `018` answer reads it at once). `purchases.float_wait_since` is set while a queued
purchase is held back because the last known float is below its amount (shared/float/).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vtpass_float_readings",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("balance", sa.Numeric(18, 2), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_vtpass_float_readings_checked_at", "vtpass_float_readings", ["checked_at"]
    )
    op.add_column(
        "purchases", sa.Column("float_wait_since", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("purchases", "float_wait_since")
    op.drop_index("ix_vtpass_float_readings_checked_at", table_name="vtpass_float_readings")
    op.drop_table("vtpass_float_readings")

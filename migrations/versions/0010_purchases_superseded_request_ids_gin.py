"""an index on purchases' superseded request ids, for the callback lookup

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

A VTPass notice names a purchase by its request id or by one it superseded
(`superseded_request_ids @> '["..."]'`, shared/callbacks.py). Without an index on the JSONB
array the OR makes PostgreSQL read every purchase for every notice
(tests/shared/test_scan_plans.py); a GIN index with jsonb_path_ops answers `@>`.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_purchases_superseded_request_ids",
        "purchases",
        ["superseded_request_ids"],
        postgresql_using="gin",
        postgresql_ops={"superseded_request_ids": "jsonb_path_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_purchases_superseded_request_ids", table_name="purchases")

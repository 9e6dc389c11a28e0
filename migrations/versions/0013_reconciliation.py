"""daily reconciliation with VTPass: runs and what they found

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

`reconciliation_runs` is one requery pass over the purchases that became final in a window
(shared/reconcile/). A run records its cursor (the last purchase checked, in
`completed_at, id` order) and its counts as it goes, so a run that was killed continues where
it stopped; the partial unique index lets at most one run be `running` at a time.
`reconciliation_findings` holds each disagreement (and each purchase VTPass could not tell
about) of a run: append-only, like the audit log, one row per purchase per run.
`ix_purchases_completed_at` serves the run's scan of final purchases by completion time.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cursor_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cursor_purchase_id", sa.String(40), nullable=True),
        sa.Column("checked", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("agreed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("disagreements", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("inconclusive", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("refunded", sa.Integer(), nullable=False, server_default="0"),
        sa.CheckConstraint(
            "status IN ('running', 'completed')", name=op.f("ck_reconciliation_runs_status")
        ),
        sa.CheckConstraint("window_start < window_end", name=op.f("ck_reconciliation_runs_window")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
    )
    # Never two runs at once: a second `running` row cannot be inserted.
    op.create_index(
        "uq_reconciliation_runs_one_running",
        "reconciliation_runs",
        ["status"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_table(
        "reconciliation_findings",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("purchase_id", sa.String(40), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("finding", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("paylink_status", sa.String(16), nullable=False),
        sa.Column("paylink_amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("vtpass_status", sa.String(16), nullable=False),
        sa.Column("vtpass_code", sa.String(16), nullable=True),
        sa.Column("vtpass_amount", sa.Numeric(18, 2), nullable=True),
        sa.Column("vtpass_transaction_id", sa.String(128), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name=op.f("fk_reconciliation_findings_run_id_reconciliation_runs"),
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"],
            ["purchases.id"],
            name=op.f("fk_reconciliation_findings_purchase_id_purchases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_findings")),
        sa.UniqueConstraint(
            "run_id", "purchase_id", name=op.f("uq_reconciliation_findings_run_id_purchase_id")
        ),
    )
    op.create_index(
        "ix_reconciliation_findings_purchase_id", "reconciliation_findings", ["purchase_id"]
    )
    op.execute(
        "CREATE TRIGGER reconciliation_findings_append_only BEFORE UPDATE OR DELETE "
        "ON reconciliation_findings FOR EACH ROW EXECUTE FUNCTION paylink_forbid_change()"
    )
    op.create_index(
        "ix_purchases_completed_at",
        "purchases",
        ["completed_at", "id"],
        postgresql_where=sa.text("completed_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_purchases_completed_at", table_name="purchases")
    op.execute(
        "DROP TRIGGER IF EXISTS reconciliation_findings_append_only ON reconciliation_findings"
    )
    op.drop_index("ix_reconciliation_findings_purchase_id", table_name="reconciliation_findings")
    op.drop_table("reconciliation_findings")
    op.drop_index("uq_reconciliation_runs_one_running", table_name="reconciliation_runs")
    op.drop_table("reconciliation_runs")

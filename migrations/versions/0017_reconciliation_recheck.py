"""reconciliation: a trailing recheck of delivered purchases, and runs that could not tell

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-02

`reconciliation_runs.recheck_since`: a run also asks again about every purchase still
delivered that became final from this time to its window's start (a reversal at VTPass days
later is found), and about every purchase an earlier run since then could not conclude
(inconclusive answers are carried forward). NULL on the runs before it: their window only.
A run whose answers were mostly inconclusive ends `inconclusive`, not `completed`: it does
not count as a reconciliation that happened.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "reconciliation_runs",
        sa.Column("recheck_since", sa.DateTime(timezone=True), nullable=True),
    )
    op.drop_constraint(op.f("ck_reconciliation_runs_status"), "reconciliation_runs")
    op.create_check_constraint(
        op.f("ck_reconciliation_runs_status"),
        "reconciliation_runs",
        "status IN ('running', 'completed', 'inconclusive')",
    )


def downgrade() -> None:
    op.execute("UPDATE reconciliation_runs SET status = 'completed' WHERE status = 'inconclusive'")
    op.drop_constraint(op.f("ck_reconciliation_runs_status"), "reconciliation_runs")
    op.create_check_constraint(
        op.f("ck_reconciliation_runs_status"),
        "reconciliation_runs",
        "status IN ('running', 'completed')",
    )
    op.drop_column("reconciliation_runs", "recheck_since")

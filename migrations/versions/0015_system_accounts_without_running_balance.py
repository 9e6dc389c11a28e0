"""system accounts keep no running balance

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-02

Every capture used to lock and update the one `vtpass_settlement` row (and every credit the
`funding` row), so settlement ran one capture at a time however many workers there were. A
system account's balance is now the sum of its postings (`shared.ledger.system_balance`);
only user accounts keep a running balance, which their movements lock and which the ledger
invariants compare with their postings. `(user_id IS NULL) = (balance IS NULL)` says so.
Postings and journals stay append-only; the downgrade puts the sums back as balances.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("accounts", "balance", existing_type=sa.Numeric(18, 2), nullable=True)
    op.execute("UPDATE accounts SET balance = NULL WHERE user_id IS NULL")
    op.create_check_constraint(
        op.f("ck_accounts_running_balance_only_for_users"),
        "accounts",
        "(user_id IS NULL) = (balance IS NULL)",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_accounts_running_balance_only_for_users"), "accounts", type_="check"
    )
    op.execute(
        """
        UPDATE accounts SET balance = (
            SELECT COALESCE(SUM(p.amount), 0) FROM postings p WHERE p.account_id = accounts.id
        )
        WHERE user_id IS NULL
        """
    )
    op.alter_column("accounts", "balance", existing_type=sa.Numeric(18, 2), nullable=False)

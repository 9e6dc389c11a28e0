"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Reviewed by hand: the append-only guard and the two system accounts are added below.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("postings", "journals", "purchase_status_history", "audit_log")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("purchase_id", sa.String(length=40), nullable=True),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        op.f("ix_audit_log_purchase_id"), "audit_log", ["purchase_id"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('user', 'admin')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "vtpass_callbacks",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("times_received", sa.Integer(), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vtpass_callbacks")),
        sa.UniqueConstraint("body_hash", name=op.f("uq_vtpass_callbacks_body_hash")),
    )
    op.create_index(
        op.f("ix_vtpass_callbacks_request_id"),
        "vtpass_callbacks",
        ["request_id"],
        unique=False,
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("balance", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.CheckConstraint(
            "kind IN ('user_available', 'user_held', 'funding', 'vtpass_settlement')",
            name=op.f("ck_accounts_kind"),
        ),
        sa.CheckConstraint(
            "kind NOT IN ('user_available', 'user_held') OR balance >= 0",
            name=op.f("ck_accounts_user_balance_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_accounts_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("user_id", "kind", name=op.f("uq_accounts_user_id_kind")),
    )
    op.create_index(
        "uq_accounts_system_kind",
        "accounts",
        ["kind"],
        unique=True,
        postgresql_where=sa.text("user_id IS NULL"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column(
            "response_body", postgresql.JSONB(astext_type=sa.Text()), nullable=True
        ),
        sa.Column("purchase_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_idempotency_keys_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        op.f("ix_idempotency_keys_created_at"),
        "idempotency_keys",
        ["created_at"],
        unique=False,
    )
    op.create_table(
        "purchases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=True),
        sa.Column("variation_code", sa.String(length=128), nullable=True),
        sa.Column("subscription_type", sa.String(length=16), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column(
            "superseded_request_ids",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
        ),
        sa.Column("vtpass_transaction_id", sa.String(length=128), nullable=True),
        sa.Column("receipt", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("pay_attempts", sa.Integer(), nullable=False),
        sa.Column("requery_attempts", sa.Integer(), nullable=False),
        sa.Column("last_pay_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pending_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'processing', 'pending', 'delivered', 'failed', 'reversed', 'review')",
            name=op.f("ck_purchases_status"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_purchases_amount_positive")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_purchases_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchases")),
        sa.UniqueConstraint("request_id", name=op.f("uq_purchases_request_id")),
    )
    op.create_index(
        "ix_purchases_due",
        "purchases",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('queued', 'processing', 'pending')"),
    )
    op.create_index(
        "ix_purchases_user_id_id", "purchases", ["user_id", "id"], unique=False
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("family_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_refresh_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_refresh_tokens")),
    )
    op.create_index(
        op.f("ix_refresh_tokens_family_id"),
        "refresh_tokens",
        ["family_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_refresh_tokens_user_id"), "refresh_tokens", ["user_id"], unique=False
    )
    op.create_table(
        "journals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("purchase_id", sa.String(length=40), nullable=True),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('credit', 'hold', 'capture', 'release', 'refund')",
            name=op.f("ck_journals_kind"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_journals_amount_positive")),
        sa.ForeignKeyConstraint(
            ["purchase_id"],
            ["purchases.id"],
            name=op.f("fk_journals_purchase_id_purchases"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_journals_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journals")),
        sa.UniqueConstraint(
            "purchase_id", "kind", name=op.f("uq_journals_purchase_id_kind")
        ),
    )
    op.create_index(op.f("ix_journals_user_id"), "journals", ["user_id"], unique=False)
    op.create_index(
        "uq_journals_credit_reference",
        "journals",
        ["user_id", "reference"],
        unique=True,
        postgresql_where=sa.text("kind = 'credit'"),
    )
    op.create_index(
        "uq_journals_purchase_settlement",
        "journals",
        ["purchase_id"],
        unique=True,
        postgresql_where=sa.text("kind IN ('capture', 'release')"),
    )
    op.create_table(
        "purchase_status_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("purchase_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["purchase_id"],
            ["purchases.id"],
            name=op.f("fk_purchase_status_history_purchase_id_purchases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_status_history")),
    )
    op.create_index(
        op.f("ix_purchase_status_history_purchase_id"),
        "purchase_status_history",
        ["purchase_id"],
        unique=False,
    )
    op.create_table(
        "postings",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("journal_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_postings_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["journal_id"],
            ["journals.id"],
            name=op.f("fk_postings_journal_id_journals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postings")),
    )
    op.create_index(
        op.f("ix_postings_account_id"), "postings", ["account_id"], unique=False
    )
    op.create_index(
        op.f("ix_postings_journal_id"), "postings", ["journal_id"], unique=False
    )

    # History, ledger and audit rows are append-only: a correction is a new row.
    op.execute(
        """
        CREATE FUNCTION paylink_forbid_change() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION paylink_forbid_change()"
        )
    op.execute(
        "INSERT INTO accounts (kind, balance) VALUES ('funding', 0), ('vtpass_settlement', 0)"
    )


def downgrade() -> None:
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP FUNCTION IF EXISTS paylink_forbid_change()")
    op.drop_index(op.f("ix_postings_journal_id"), table_name="postings")
    op.drop_index(op.f("ix_postings_account_id"), table_name="postings")
    op.drop_table("postings")
    op.drop_index(
        op.f("ix_purchase_status_history_purchase_id"),
        table_name="purchase_status_history",
    )
    op.drop_table("purchase_status_history")
    op.drop_index(
        "uq_journals_purchase_settlement",
        table_name="journals",
        postgresql_where=sa.text("kind IN ('capture', 'release')"),
    )
    op.drop_index(
        "uq_journals_credit_reference",
        table_name="journals",
        postgresql_where=sa.text("kind = 'credit'"),
    )
    op.drop_index(op.f("ix_journals_user_id"), table_name="journals")
    op.drop_table("journals")
    op.drop_index(op.f("ix_refresh_tokens_user_id"), table_name="refresh_tokens")
    op.drop_index(op.f("ix_refresh_tokens_family_id"), table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("ix_purchases_user_id_id", table_name="purchases")
    op.drop_index(
        "ix_purchases_due",
        table_name="purchases",
        postgresql_where=sa.text("status IN ('queued', 'processing', 'pending')"),
    )
    op.drop_table("purchases")
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index(
        "uq_accounts_system_kind",
        table_name="accounts",
        postgresql_where=sa.text("user_id IS NULL"),
    )
    op.drop_table("accounts")
    op.drop_index(op.f("ix_vtpass_callbacks_request_id"), table_name="vtpass_callbacks")
    op.drop_table("vtpass_callbacks")
    op.drop_table("users")
    op.drop_index(op.f("ix_audit_log_purchase_id"), table_name="audit_log")
    op.drop_table("audit_log")

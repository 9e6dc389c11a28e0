"""Sandbox-only conveniences: a user funds their own wallet, credited by the configured admin.

VTPass's sandbox moves no real money, so a storefront being tried out may top itself up. In
live mode this does not exist: `fund_own_wallet` refuses, and the route answers 404.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from sqlalchemy import select

from shared import ledger
from shared.db import Database
from shared.errors import NotFound
from shared.models import Journal, User


def fund_own_wallet(
    db: Database, *, user_id: str, amount: Decimal, admin_email: str, sandbox: bool
) -> Journal:
    """Credit a user's wallet in sandbox mode, as the configured admin."""
    if not sandbox or not admin_email:
        raise NotFound()
    with db.transaction() as session:
        admin_id = session.scalar(
            select(User.id).where(User.email == admin_email.strip().lower(), User.role == "admin")
        )
        if admin_id is None:
            raise NotFound()
        journal, _ = ledger.credit(
            session,
            user_id=user_id,
            amount=amount,
            reference="sandbox-" + secrets.token_hex(8),
            actor=f"admin:{admin_id}",
        )
    return journal

"""The caller's wallet: balances and ledger entries."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from flask_jwt_extended import jwt_required
from sqlalchemy import select

from api.deps import caller_id, runtime
from api.validation import ascii_int, query_limit
from shared import ledger
from shared.errors import ValidationFailed
from shared.formats import iso, money
from shared.models import Account, Journal, Posting

bp = Blueprint("wallet", __name__, url_prefix="/api/v1/wallet")

ACCOUNT_NAMES = {ledger.USER_AVAILABLE: "available", ledger.USER_HELD: "held"}


@bp.get("")
@jwt_required()
def show() -> Response:
    """Return the caller's available and held money."""
    with runtime().db.sessions() as session:
        balance = ledger.balance(session, caller_id())
    return jsonify(
        {"currency": "NGN", "available": money(balance.available), "held": money(balance.held)}
    )


@bp.get("/entries")
@jwt_required()
def entries() -> Response:
    """List the ledger postings on the caller's accounts, newest first."""
    limit = query_limit()
    query = (
        select(Posting, Journal, Account.kind)
        .join(Journal, Journal.id == Posting.journal_id)
        .join(Account, Account.id == Posting.account_id)
        .where(Account.user_id == caller_id())
    )
    cursor = request.args.get("starting_after")
    if cursor is not None:
        entry = ascii_int(cursor[4:]) if cursor.startswith("ent_") else None
        if entry is None:
            raise ValidationFailed(fields={"starting_after": "not an entry id"})
        query = query.where(Posting.id < entry)
    with runtime().db.sessions() as session:
        rows = session.execute(query.order_by(Posting.id.desc()).limit(limit + 1)).all()
    data = [
        {
            "id": f"ent_{posting.id}",
            "journal_id": journal.id,
            "type": journal.kind,
            "account": ACCOUNT_NAMES[kind],
            "amount": money(posting.amount),
            "purchase_id": journal.purchase_id,
            "reference": journal.reference,
            "created_at": iso(posting.created_at),
        }
        for posting, journal, kind in rows[:limit]
    ]
    return jsonify({"data": data, "has_more": len(rows) > limit})

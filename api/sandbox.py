"""Sandbox only: fund your own wallet, for storefronts being tried out.

The app factory registers this blueprint only when VTPASS_MODE is sandbox, so in live mode
the route does not exist (404) and is not in the OpenAPI document.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask_jwt_extended import jwt_required

from api.deps import caller_id, runtime
from api.schemas import SandboxFundIn
from api.validation import parse_body
from shared.formats import iso, money
from shared.sandbox import fund_own_wallet

bp = Blueprint("sandbox", __name__, url_prefix="/api/v1/sandbox")


@bp.post("/wallet/fund")
@jwt_required()
def fund() -> tuple[Response, int]:
    """Credit the caller's wallet (sandbox mode only), performed by the configured admin."""
    body, _ = parse_body(SandboxFundIn)
    rt = runtime()
    journal = fund_own_wallet(
        rt.db,
        user_id=caller_id(),
        amount=body.amount,
        admin_email=rt.settings.paylink_admin_email,
        sandbox=rt.settings.sandbox,
    )
    entry = {
        "id": journal.id,
        "amount": money(journal.amount),
        "reference": journal.reference,
        "created_at": iso(journal.created_at),
    }
    return jsonify(entry), 201

"""Operator endpoints (role admin): credits, purchases in review, search, one purchase's
whole story, requery, resolve, audit."""

from __future__ import annotations

import re
from decimal import Decimal

from flask import Blueprint, Response, jsonify, request
from flask_jwt_extended import get_jwt_identity
from sqlalchemy import select

from api.deps import admin_required, runtime
from api.purchases import list_purchases
from api.schemas import CreditIn, ResolveIn
from api.validation import ascii_int, parse_body, query_limit
from shared import float as vtfloat
from shared import ledger, users
from shared.audit import audit_object
from shared.db import utcnow
from shared.errors import NotFound, ServiceUnavailable, ValidationFailed
from shared.formats import iso, money
from shared.models import AuditEntry, Purchase
from shared.purchases import execution
from shared.purchases.dossier import purchase_dossier, search_purchases
from shared.purchases.operator import resolve_purchase
from shared.purchases.views import purchase_object
from workers.publish import publish_due_webhooks, publish_pay

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")

# What a search may be (the document states it): 1-320 characters, no space at either end.
SEARCH_PATTERN = r"^[^\s\x00](?:[^\x00]{0,318}[^\s\x00])?$"


@bp.post("/users/<user_id>/wallet/credits")
@admin_required
def credit_wallet(user_id: str) -> tuple[Response, int]:
    """Fund a user's wallet; the same reference credits once."""
    body, _ = parse_body(CreditIn)
    db = runtime().db
    if users.get_user(db, user_id) is None:
        raise NotFound("No such user.")
    with db.transaction() as session:
        journal, created = ledger.credit(
            session,
            user_id=user_id,
            amount=body.amount,
            reference=body.reference,
            actor=f"admin:{get_jwt_identity()}",
        )
    if not created and journal.amount != body.amount:
        raise ValidationFailed(fields={"reference": "already used for a different amount"})
    entry = {
        "id": journal.id,
        "user_id": user_id,
        "amount": money(journal.amount),
        "reference": journal.reference,
        "created_at": iso(journal.created_at),
    }
    return jsonify(entry), 201 if created else 200


@bp.get("/purchases")
@admin_required
def purchases() -> Response:
    """List every user's purchases (filter with ?status=review)."""
    return jsonify(list_purchases(select(Purchase), operator=True))


@bp.get("/purchases/<purchase_id>")
@admin_required
def purchase_detail(purchase_id: str) -> Response:
    """Return one purchase's whole story: history, VTPass exchanges, ledger, webhooks, callbacks."""
    return jsonify(purchase_dossier(runtime().db, purchase_id))


@bp.get("/vtpass/balance")
@admin_required
def vtpass_balance() -> Response:
    """Show the VTPass float as last read (the beat reads it every minute) and who waits for it."""
    rt = runtime()
    low = Decimal(str(rt.settings.float_low))
    with rt.db.transaction() as session:
        reading = vtfloat.latest(session)
        waiting = vtfloat.waiting_count(session)
    now = utcnow()
    return jsonify(
        {
            "balance": None if reading is None else money(reading.balance),
            "checked_at": None if reading is None else iso(reading.checked_at),
            "known": reading is not None and reading.is_known(now),
            "low": reading is not None and reading.balance < low,
            "low_threshold": money(low),
            "purchases_waiting": waiting,
        }
    )


@bp.get("/search")
@admin_required
def search() -> Response:
    """Find purchases by purchase id, request_id, phone or customer number, or user email."""
    text = request.args.get("q", "")
    if re.match(SEARCH_PATTERN, text) is None:
        raise ValidationFailed(fields={"q": "must be 1 to 320 characters, no space at either end"})
    found, has_more = search_purchases(runtime().db, query=text, limit=query_limit(default=50))
    return jsonify({"data": found, "has_more": has_more})


@bp.post("/purchases/<purchase_id>/requery")
@admin_required
def requery(purchase_id: str) -> Response:
    """Ask VTPass now and apply its answer; return the purchase as it then stands."""
    rt = runtime()
    after = execution.requery_purchase(
        rt.db,
        rt.vtpass,
        _existing(purchase_id),
        timing=rt.timing,
        actor=f"admin:{get_jwt_identity()}",
    )
    publish_due_webhooks()
    if after is execution.Next.PAY_AGAIN and not publish_pay(purchase_id):
        # VTPass proved it never got the pay (015, nothing acknowledged): the pay goes now, as
        # the worker's own requery would. The answer is recorded (the purchase is queued);
        # with the broker down, the operator is told the pay waits for the sweeper.
        raise ServiceUnavailable(
            "VTPass's answer is recorded: it never received this purchase, which is queued to"
            " be paid again. The task queue is unreachable, so the sweeper will send the pay"
            f" within {round(rt.settings.publish_lease_s + rt.settings.sweep_interval_s)} s."
        )
    return _show(purchase_id)


@bp.post("/purchases/<purchase_id>/resolve")
@admin_required
def resolve(purchase_id: str) -> Response:
    """Settle a purchase in review as delivered or failed, or reverse a delivered one.

    `reversed` is for a delivered purchase VTPass confirmed it never delivered (a
    reconciliation's `unknown_at_vtpass`): the customer is refunded once, through the state
    machine; a reversal VTPass reports later refunds nothing more.
    """
    body, _ = parse_body(ResolveIn)
    resolve_purchase(
        runtime().db,
        purchase_id=purchase_id,
        status=body.status,
        note=body.note,
        operator_id=str(get_jwt_identity()),
    )
    publish_due_webhooks()
    return _show(purchase_id)


@bp.get("/audit")
@admin_required
def audit_log() -> Response:
    """List audit entries, newest first, optionally for one purchase."""
    limit = query_limit(default=100, maximum=500)
    query = select(AuditEntry)
    if purchase_id := request.args.get("purchase_id"):
        query = query.where(AuditEntry.purchase_id == purchase_id)
    if (cursor := request.args.get("starting_after")) is not None:
        entry = ascii_int(cursor)
        if entry is None:
            raise ValidationFailed(fields={"starting_after": "not an audit entry id"})
        query = query.where(AuditEntry.id < entry)
    with runtime().db.sessions() as session:
        rows = (
            session.execute(query.order_by(AuditEntry.id.desc()).limit(limit + 1)).scalars().all()
        )
    data = [audit_object(e) for e in rows[:limit]]
    return jsonify({"data": data, "has_more": len(rows) > limit})


def _existing(purchase_id: str) -> str:
    with runtime().db.sessions() as session:
        if session.get(Purchase, purchase_id) is None:
            raise NotFound("No such purchase.")
    return purchase_id


def _show(purchase_id: str) -> Response:
    with runtime().db.sessions() as session:
        purchase = session.get(Purchase, purchase_id)
        if purchase is None:
            raise NotFound("No such purchase.")
        return jsonify(purchase_object(purchase, operator=True))

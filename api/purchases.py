"""Purchases: accept (202, idempotent), read one, list with cursor pagination."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request, url_for
from flask_jwt_extended import jwt_required
from sqlalchemy import select

from api.deps import caller_id, runtime
from api.schemas import purchase_body
from api.validation import parse_body, query_limit
from shared import logs
from shared.errors import IdempotencyKeyRequired, NotFound, ValidationFailed
from shared.idempotency import valid_key
from shared.models import Purchase
from shared.products import Category
from shared.purchases.acceptance import accept_purchase
from shared.purchases.pricing import PurchaseRequest, price_purchase
from shared.purchases.states import PurchaseStatus
from shared.purchases.views import purchase_object
from workers.publish import publish_pay

log = logging.getLogger(__name__)
bp = Blueprint("purchases", __name__, url_prefix="/api/v1/purchases")


@bp.post("")
@jwt_required()
def create() -> tuple[Response, int]:
    """Accept a purchase: hold the funds, record it, and queue it for a worker."""
    key = request.headers.get("Idempotency-Key", "")
    if not valid_key(key):
        raise IdempotencyKeyRequired()
    rt = runtime()
    body, raw = parse_body(purchase_body(rt.settings.sandbox))
    purchase_request = PurchaseRequest(**body.model_dump())
    accepted = accept_purchase(
        rt.db,
        user_id=caller_id(),
        idempotency_key=key,
        raw_body=raw,
        request=purchase_request,
        price=lambda r: price_purchase(
            r, catalog=rt.catalog, verifier=rt.verifier, sandbox=rt.settings.sandbox
        ),
        timing=rt.timing,
    )
    if accepted.purchase_id:
        logs.bind(purchase_id=accepted.purchase_id)
    if accepted.created and accepted.purchase_id:
        log.info("purchase accepted")
        # After commit, never inside the transaction; the sweeper covers a lost publish.
        publish_pay(accepted.purchase_id)
    response = jsonify(accepted.body)
    if accepted.purchase_id:
        response.headers["Location"] = url_for(
            "purchases.get_one", purchase_id=accepted.purchase_id
        )
    return response, accepted.status


@bp.get("/<purchase_id>")
@jwt_required()
def get_one(purchase_id: str) -> Response:
    """Return one of the caller's purchases."""
    with runtime().db.sessions() as session:
        purchase = session.get(Purchase, purchase_id)
        if purchase is None or purchase.user_id != caller_id():
            raise NotFound("No such purchase.")
        return jsonify(purchase_object(purchase))


@bp.get("")
@jwt_required()
def list_all() -> Response:
    """List the caller's purchases, newest first."""
    query = select(Purchase).where(Purchase.user_id == caller_id())
    return jsonify(list_purchases(query))


def list_purchases(query, *, operator: bool = False) -> dict:
    """Apply the status/category/cursor filters of a purchase listing and page it."""
    limit = query_limit()
    status = request.args.get("status")
    if status is not None:
        if status not in set(PurchaseStatus):
            raise ValidationFailed(fields={"status": "unknown status"})
        query = query.where(Purchase.status == status)
    category = request.args.get("category")
    if category is not None:
        if category not in set(Category):
            raise ValidationFailed(fields={"category": "unknown category"})
        query = query.where(Purchase.category == category)
    cursor = request.args.get("starting_after")
    if cursor:
        # Ids are time-ordered, so "older than the cursor" is "smaller id".
        query = query.where(Purchase.id < cursor)
    with runtime().db.sessions() as session:
        rows = session.execute(query.order_by(Purchase.id.desc()).limit(limit + 1)).scalars().all()
        data = [purchase_object(p, operator=operator) for p in rows[:limit]]
    return {"data": data, "has_more": len(rows) > limit}

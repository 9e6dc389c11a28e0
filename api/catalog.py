"""The catalog: categories, services and plans, served from the Redis response cache."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from flask_jwt_extended import jwt_required

from api.deps import runtime
from shared.cache import CacheState
from shared.errors import NotFound, ValidationFailed
from shared.products import PRODUCTS, Category

bp = Blueprint("catalog", __name__, url_prefix="/api/v1/catalog")


def _cached(data: list, state: CacheState) -> Response:
    response = jsonify({"data": data})
    response.headers["X-Cache"] = state.value
    return response


@bp.get("/categories")
@jwt_required()
def categories() -> Response:
    """List PayLink's six categories."""
    return _cached(*runtime().catalog.categories())


@bp.get("/services")
@jwt_required()
def services() -> Response:
    """List the services of a category (or of all categories)."""
    raw = request.args.get("category")
    if raw is not None and raw not in set(Category):
        raise ValidationFailed(
            fields={"category": f"must be one of {', '.join(c.value for c in Category)}"}
        )
    return _cached(*runtime().catalog.services(Category(raw) if raw else None))


@bp.get("/services/<service_id>/variations")
@jwt_required()
def variations(service_id: str) -> Response:
    """List a service's plans."""
    if service_id not in PRODUCTS:
        raise NotFound("No such service.")
    return _cached(*runtime().catalog.variations(service_id))

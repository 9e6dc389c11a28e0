"""Webhook endpoints: register (the secret is shown once), list, remove, rotate, re-enable."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for
from flask_jwt_extended import jwt_required

from api.deps import caller_id, runtime
from api.schemas import webhook_endpoint_body
from api.validation import parse_body, query_limit
from shared.formats import iso
from shared.webhooks import endpoints
from shared.webhooks.endpoints import attempt_object, endpoint_object

bp = Blueprint("webhook_endpoints", __name__, url_prefix="/api/v1/webhook-endpoints")


@bp.post("")
@jwt_required()
def create() -> tuple[Response, int]:
    """Register an endpoint; the response is the only place its secret appears."""
    rt = runtime()
    body, _ = parse_body(webhook_endpoint_body(rt.settings.webhook_allow_private))
    endpoint, secret = endpoints.create_endpoint(
        rt.db,
        user_id=caller_id(),
        url=body.url,
        events=body.events,
        allow_private=rt.settings.webhook_allow_private,
        max_endpoints=rt.settings.webhook_max_endpoints,
    )
    response = jsonify({**endpoint_object(endpoint), "secret": secret})
    response.headers["Location"] = url_for("webhook_endpoints.get_one", endpoint_id=endpoint.id)
    return response, 201


@bp.get("")
@jwt_required()
def list_all() -> Response:
    """List the caller's endpoints (without secrets), oldest first, with cursor pagination."""
    found, has_more = endpoints.list_endpoints(
        runtime().db,
        user_id=caller_id(),
        limit=query_limit(),
        starting_after=request.args.get("starting_after"),
    )
    return jsonify({"data": [endpoint_object(e) for e in found], "has_more": has_more})


@bp.get("/<endpoint_id>")
@jwt_required()
def get_one(endpoint_id: str) -> Response:
    """Return one of the caller's endpoints (without its secret)."""
    endpoint = endpoints.get_endpoint(runtime().db, user_id=caller_id(), endpoint_id=endpoint_id)
    return jsonify(endpoint_object(endpoint))


@bp.delete("/<endpoint_id>")
@jwt_required()
def delete(endpoint_id: str) -> tuple[str, int]:
    """Remove one of the caller's endpoints."""
    endpoints.delete_endpoint(runtime().db, user_id=caller_id(), endpoint_id=endpoint_id)
    return "", 204


@bp.post("/<endpoint_id>/rotate-secret")
@jwt_required()
def rotate_secret(endpoint_id: str) -> Response:
    """Issue a new secret; the old one keeps signing alongside it for 24 hours."""
    endpoint, secret = endpoints.rotate_secret(
        runtime().db, user_id=caller_id(), endpoint_id=endpoint_id
    )
    return jsonify(
        {
            **endpoint_object(endpoint),
            "secret": secret,
            "previous_secret_expires_at": iso(endpoint.previous_secret_expires_at),
        }
    )


@bp.post("/<endpoint_id>/enable")
@jwt_required()
def enable(endpoint_id: str) -> Response:
    """Re-enable an endpoint that failed for too long or answered 410 Gone."""
    endpoint = endpoints.enable_endpoint(runtime().db, user_id=caller_id(), endpoint_id=endpoint_id)
    return jsonify(endpoint_object(endpoint))


@bp.get("/<endpoint_id>/attempts")
@jwt_required()
def attempts(endpoint_id: str) -> Response:
    """List the endpoint's most recent delivery attempts, newest first."""
    found = endpoints.recent_attempts(
        runtime().db, user_id=caller_id(), endpoint_id=endpoint_id, limit=query_limit()
    )
    return jsonify({"data": [attempt_object(a) for a in found]})

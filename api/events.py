"""Events: the caller's webhook events for catch-up, and redelivery on request."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from flask_jwt_extended import jwt_required

from api.deps import caller_id, runtime
from api.validation import query_limit
from shared.errors import ValidationFailed
from shared.webhooks.events import EVENT_TYPES, list_events, redeliver_event
from workers.publish import publish_due_webhooks

bp = Blueprint("events", __name__, url_prefix="/api/v1/events")


@bp.get("")
@jwt_required()
def list_all() -> Response:
    """List the caller's events, newest first, with cursor pagination."""
    event_type = request.args.get("type")
    if event_type is not None and event_type not in EVENT_TYPES:
        raise ValidationFailed(fields={"type": "unknown event type"})
    data, has_more = list_events(
        runtime().db,
        user_id=caller_id(),
        limit=query_limit(),
        starting_after=request.args.get("starting_after"),
        event_type=event_type,
    )
    return jsonify({"data": data, "has_more": has_more})


@bp.post("/<event_id>/redeliver")
@jwt_required()
def redeliver(event_id: str) -> tuple[Response, int]:
    """Send an event again to every endpoint subscribed to it."""
    endpoint_ids = redeliver_event(runtime().db, user_id=caller_id(), event_id=event_id)
    publish_due_webhooks()
    return jsonify({"id": event_id, "endpoints": endpoint_ids}), 202

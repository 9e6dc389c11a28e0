"""VTPass's notices: answer fast, store, requery before any money moves."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, jsonify, request

from api.deps import runtime
from api.validation import parse_json
from shared.callbacks import receive_notice
from shared.errors import NotFound
from workers.publish import publish_requery

bp = Blueprint("vtpass_callback", __name__, url_prefix="/api/v1/vtpass")


@bp.post("/callback/<token>")
def receive(token: str) -> Response:
    """Take a VTPass notice; a wrong path token is a 404."""
    expected = runtime().settings.vtpass_callback_token
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise NotFound()
    try:
        body = parse_json(request.get_data())
    except (ValueError, UnicodeDecodeError):
        body = {"unparseable": request.get_data().decode("utf-8", "replace")[:2000]}
    purchase_id = receive_notice(runtime().db, runtime().catalog, body)
    if purchase_id is not None:
        publish_requery(purchase_id)
    return jsonify({"response": "success"})

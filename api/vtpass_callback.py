"""VTPass's notices: answer fast, store, requery before any money moves."""

from __future__ import annotations

import hmac
import json

from flask import Blueprint, Response, jsonify, request

from api.deps import runtime
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
        body = json.loads(request.get_data() or b"null")
    except ValueError:
        body = {"unparseable": request.get_data(as_text=True)[:2000]}
    purchase_id = receive_notice(runtime().db, runtime().catalog, body)
    if purchase_id is not None:
        publish_requery(purchase_id)
    return jsonify({"response": "success"})

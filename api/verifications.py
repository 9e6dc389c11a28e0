"""Customer verification: who owns this meter, smartcard, JAMB profile or Smile account."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask_jwt_extended import jwt_required

from api.deps import runtime
from api.schemas import verification_body
from api.validation import parse_body

bp = Blueprint("verifications", __name__, url_prefix="/api/v1/verifications")


@bp.post("")
@jwt_required()
def verify() -> Response:
    """Verify a customer with VTPass."""
    body, _ = parse_body(verification_body(runtime().settings.sandbox))
    found = runtime().verifier.verify(
        service_id=body.service_id, customer_id=body.customer_id, type=getattr(body, "type", None)
    )
    return jsonify(found)

"""Customer verification: who owns this meter, smartcard, JAMB profile or Smile account."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask_jwt_extended import jwt_required

from api.deps import runtime
from api.schemas import VerificationIn
from api.validation import parse_body
from shared.errors import ValidationFailed
from shared.verification import verifiable

bp = Blueprint("verifications", __name__, url_prefix="/api/v1/verifications")


@bp.post("")
@jwt_required()
def verify() -> Response:
    """Verify a customer with VTPass."""
    body, _ = parse_body(VerificationIn)
    if not verifiable(body.service_id):
        raise ValidationFailed(fields={"service_id": "not a service with customers to verify"})
    found = runtime().verifier.verify(
        service_id=body.service_id, customer_id=body.customer_id, type=body.type
    )
    return jsonify(found)

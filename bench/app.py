"""The PayLink app plus one baseline route, for benchmarks only (`gunicorn bench.app:app`)."""

from flask import jsonify
from flask_jwt_extended import jwt_required

from api import create_app

app = create_app()
# A constant body the size of a catalog answer, behind the same authentication.
CONSTANT = {
    "data": [{"service_id": f"svc-{i}", "name": "x" * 20, "min_amount": "50.00"} for i in range(4)]
}


@app.get("/bench/constant")
@jwt_required()
def constant():
    """Answer a constant JSON body: the baseline the catalog is compared with."""
    return jsonify(CONSTANT)

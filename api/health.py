"""Service endpoints: liveness and readiness.

Probes are never rate limited, so readiness stays cheap whoever calls it how often: its
answer is reused for `READY_FOR_S`, and only one request at a time checks the dependencies.
"""

from __future__ import annotations

import threading
import time

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from api.deps import runtime

bp = Blueprint("health", __name__)

READY_FOR_S = 2.0
_checking = threading.Lock()


@bp.get("/healthz")
def healthz() -> Response:
    """Say the process is up."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Say whether the database, Redis and the broker are reachable."""
    with _checking:
        at, checks = current_app.extensions.get("readiness", (0.0, {}))
        if time.monotonic() - at >= READY_FOR_S:
            checks = _check_dependencies()
            current_app.extensions["readiness"] = (time.monotonic(), checks)
    ready = all(v == "ok" for v in checks.values())
    if ready:
        return jsonify({"status": "ready", "checks": checks}), 200
    body = {
        "error": {"code": "service_unavailable", "message": "A dependency is unreachable."},
        "checks": checks,
    }
    return jsonify(body), 503


def _check_dependencies() -> dict[str, str]:
    rt = runtime()
    checks = {}
    try:
        with rt.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means not ready
        checks["database"] = "unreachable"
    try:
        rt.redis.ping()
        checks["redis"] = "ok"
    except Exception:  # noqa: BLE001
        checks["redis"] = "unreachable"
    try:
        with current_app.extensions["celery"].connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception:  # noqa: BLE001
        checks["broker"] = "unreachable"
    return checks

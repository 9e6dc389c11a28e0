"""Operator endpoints (role admin) for the reconciliation reports (shared/reconcile/).

`GET /api/v1/admin/reconciliations` lists runs, newest first (`limit`, `starting_after`);
`GET .../<id>` is one run with its findings, as JSON, or as CSV when the request says
`Accept: text/csv`; `GET .../<id>.csv` is always the CSV download.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from api.deps import admin_required, runtime
from api.validation import query_limit
from shared.errors import NotFound
from shared.models import ReconciliationRun
from shared.reconcile import report

bp = Blueprint("reconciliations", __name__, url_prefix="/api/v1/admin/reconciliations")

CSV = "text/csv"


@bp.get("")
@admin_required
def list_all() -> Response:
    """List reconciliation runs with VTPass, newest first."""
    limit = query_limit()
    with runtime().db.sessions() as session:
        data, has_more = report.list_runs(
            session, limit=limit, starting_after=request.args.get("starting_after")
        )
    return jsonify({"data": data, "has_more": has_more})


@bp.get("/<run_id>")
@admin_required
def detail(run_id: str) -> Response:
    """Show one reconciliation run and its findings (CSV with Accept: text/csv)."""
    if request.accept_mimetypes.best_match(["application/json", CSV]) == CSV:
        response = _csv(run_id)
    else:
        with runtime().db.sessions() as session:
            found = report.run_report(session, run_id)
        if found is None:
            raise NotFound("No such reconciliation run.")
        response = jsonify(found)
    response.vary.add("Accept")
    return response


@bp.get("/<run_id>.csv")
@admin_required
def detail_csv(run_id: str) -> Response:
    """Download one reconciliation run's findings as CSV."""
    return _csv(run_id)


def _csv(run_id: str) -> Response:
    with runtime().db.sessions() as session:
        if session.get(ReconciliationRun, run_id) is None:
            raise NotFound("No such reconciliation run.")
        body = report.findings_csv(report.findings(session, run_id))
    response = Response(body, mimetype=CSV)
    response.headers["Content-Disposition"] = f'attachment; filename="{run_id}.csv"'
    return response

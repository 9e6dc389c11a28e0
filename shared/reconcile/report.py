"""The stored report of a run, as the admin API shows it: JSON objects and a CSV download."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.formats import iso, money
from shared.models import ReconciliationFinding, ReconciliationRun

CSV_COLUMNS = (
    "purchase_id",
    "request_id",
    "finding",
    "action",
    "paylink_status",
    "paylink_amount",
    "vtpass_status",
    "vtpass_code",
    "vtpass_amount",
    "vtpass_transaction_id",
    "note",
    "found_at",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def run_object(run: ReconciliationRun) -> dict[str, Any]:
    """Describe a run: its window, where it stands, and its counts."""
    return {
        "id": run.id,
        "status": run.status,
        "since": iso(run.window_start),
        "until": iso(run.window_end),
        "started_by": run.started_by,
        "started_at": iso(run.started_at),
        "updated_at": iso(run.updated_at),
        "finished_at": iso(run.finished_at),
        "checked": run.checked,
        "agreed": run.agreed,
        "disagreements": run.disagreements,
        "inconclusive": run.inconclusive,
        "refunded": run.refunded,
    }


def finding_object(row: ReconciliationFinding) -> dict[str, Any]:
    """Describe one finding: what PayLink held, what VTPass said, and what was done."""
    return {
        "purchase_id": row.purchase_id,
        "request_id": row.request_id,
        "finding": row.finding,
        "action": row.action,
        "paylink_status": row.paylink_status,
        "paylink_amount": money(row.paylink_amount),
        "vtpass_status": row.vtpass_status,
        "vtpass_code": row.vtpass_code,
        "vtpass_amount": None if row.vtpass_amount is None else money(row.vtpass_amount),
        "vtpass_transaction_id": row.vtpass_transaction_id,
        "note": row.note,
        "found_at": iso(row.found_at),
    }


def list_runs(session: Session, *, limit: int, starting_after: str | None) -> tuple[list, bool]:
    """Return a page of runs, newest first (ids are time-ordered), and whether more follow."""
    query = select(ReconciliationRun)
    if starting_after:
        query = query.where(ReconciliationRun.id < starting_after)
    rows = (
        session.execute(query.order_by(ReconciliationRun.id.desc()).limit(limit + 1))
        .scalars()
        .all()
    )
    return [run_object(r) for r in rows[:limit]], len(rows) > limit


def run_report(session: Session, run_id: str) -> dict[str, Any] | None:
    """Return a run with every finding (disagreements and inconclusive answers), or None."""
    run = session.get(ReconciliationRun, run_id)
    if run is None:
        return None
    return {**run_object(run), "findings": [finding_object(f) for f in findings(session, run_id)]}


def findings(session: Session, run_id: str) -> list[ReconciliationFinding]:
    """Return a run's findings in the order they were found."""
    return list(
        session.execute(
            select(ReconciliationFinding)
            .where(ReconciliationFinding.run_id == run_id)
            .order_by(ReconciliationFinding.id)
        ).scalars()
    )


def findings_csv(rows: list[ReconciliationFinding]) -> str:
    """Render findings as CSV (one header line, one line per finding)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        shown = finding_object(row)
        writer.writerow([_cell(shown[column]) for column in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Amounts are never negative, so only outside text (VTPass's codes and ids) is escaped.
    return "'" + text if text.startswith(_FORMULA_START) else text

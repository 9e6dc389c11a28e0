"""The reconciliation reports over HTTP: list (paginated), one run, its CSV; admins only."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest

from shared.db import utcnow
from shared.models import ReconciliationFinding, ReconciliationRun

BASE = "/api/v1/admin/reconciliations"


@pytest.fixture
def purchase_id(client, make_user, fund, buy) -> str:
    user = make_user()
    fund(user, "500")
    response = buy(user, service_id="mtn", phone="08011111111", amount="100")
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


@pytest.fixture
def stored_run(runtime, purchase_id):
    """A completed run with one refunded reversal and one hostile-looking VTPass id."""
    now = utcnow()
    with runtime.db.transaction() as session:
        run = ReconciliationRun(
            status="completed",
            window_start=now - timedelta(hours=24),
            window_end=now,
            started_by="cli",
            finished_at=now,
            checked=10,
            agreed=9,
            disagreements=1,
            refunded=1,
        )
        session.add(run)
        session.flush()
        session.add(
            ReconciliationFinding(
                run_id=run.id,
                purchase_id=purchase_id,
                request_id="202612020100abc",
                finding="reversed_at_vtpass",
                action="refunded",
                paylink_status="delivered",
                paylink_amount=Decimal("100"),
                vtpass_status="reversed",
                vtpass_code="040",
                vtpass_amount=Decimal("96.5"),
                vtpass_transaction_id='=HYPERLINK("http://evil")',
                note="VTPass reversed (code 040), PayLink showed delivered",
            )
        )
        return run.id


def test_one_run_as_json_with_its_findings(client, admin, stored_run, purchase_id):
    response = client.get(f"{BASE}/{stored_run}", headers=admin.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["id"], body["status"], body["checked"], body["disagreements"]) == (
        stored_run,
        "completed",
        10,
        1,
    )
    assert body["since"].endswith("Z") and body["refunded"] == 1
    [finding] = body["findings"]
    assert finding["purchase_id"] == purchase_id
    assert (finding["finding"], finding["action"]) == ("reversed_at_vtpass", "refunded")
    assert (finding["paylink_amount"], finding["vtpass_amount"]) == ("100.00", "96.50")
    assert "Accept" in response.headers["Vary"]


@pytest.mark.parametrize("how", ["suffix", "accept"])
def test_one_run_as_csv_by_suffix_or_accept_header(client, admin, stored_run, purchase_id, how):
    if how == "suffix":
        response = client.get(f"{BASE}/{stored_run}.csv", headers=admin.headers)
    else:
        response = client.get(
            f"{BASE}/{stored_run}", headers={**admin.headers, "Accept": "text/csv"}
        )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert f'filename="{stored_run}.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1
    assert rows[0]["purchase_id"] == purchase_id
    assert rows[0]["finding"] == "reversed_at_vtpass"
    # A spreadsheet must not run what VTPass sent as a formula.
    assert rows[0]["vtpass_transaction_id"].startswith("'=")


def test_runs_are_listed_newest_first_and_paginated(client, admin, runtime):
    now = utcnow()
    made = []
    for hours in (3, 2, 1):
        with runtime.db.transaction() as session:
            run = ReconciliationRun(
                status="completed",
                window_start=now - timedelta(hours=hours + 24),
                window_end=now - timedelta(hours=hours),
                started_by="beat",
                finished_at=now,
            )
            session.add(run)
            session.flush()
            made.append(run.id)
    first = client.get(f"{BASE}?limit=2", headers=admin.headers).get_json()
    assert first["has_more"] is True and len(first["data"]) == 2
    assert [r["id"] for r in first["data"]] == [made[2], made[1]]
    rest = client.get(f"{BASE}?limit=2&starting_after={made[1]}", headers=admin.headers).get_json()
    assert rest["data"][0]["id"] == made[0]
    assert set(rest["data"][0]) >= {"since", "until", "checked", "disagreements", "status"}


def test_an_unknown_run_is_not_found_in_the_error_envelope(client, admin):
    for path in (f"{BASE}/rec_missing", f"{BASE}/rec_missing.csv"):
        response = client.get(path, headers=admin.headers)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_a_bad_limit_is_a_validation_error(client, admin):
    response = client.get(f"{BASE}?limit=0", headers=admin.headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"limit": "must be an integer from 1 to 100"}


@pytest.mark.parametrize("path", [BASE, f"{BASE}/rec_x", f"{BASE}/rec_x.csv"])
def test_only_admins_see_reports(client, make_user, path):
    user = make_user()
    response = client.get(path, headers=user.headers)
    assert (response.status_code, response.get_json()["error"]["code"]) == (403, "forbidden")
    response = client.get(path)
    assert (response.status_code, response.get_json()["error"]["code"]) == (401, "token_missing")
    response = client.get(path, headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_invalid"


def test_the_openapi_document_describes_json_and_csv(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    listing = spec["paths"][BASE]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"limit", "starting_after"}
    detail = spec["paths"][BASE + "/{run_id}"]["get"]["responses"]["200"]["content"]
    assert set(detail) == {"application/json", "text/csv"}
    download = spec["paths"][BASE + "/{run_id}.csv"]["get"]["responses"]["200"]["content"]
    assert set(download) == {"text/csv"}
    assert spec["paths"][BASE]["get"]["security"] == [{"bearer": []}]

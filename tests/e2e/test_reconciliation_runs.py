"""Reconciliation end to end: purchases settled by the real worker, VTPass (the simulator)
changing its mind without a callback, and `python -m shared.reconcile` run as operators do.

- A silent reversal is found by the command, alone, and refunded once; the report lists it
  (JSON and CSV), the exit status says disagreements were found, the ledger balances.
- A run SIGKILLed part-way leaves its cursor; `--resume` finishes it and every purchase is
  recorded exactly once.
"""

from __future__ import annotations

import csv
import io
import os
import random
import signal
import subprocess
import sys

import pytest
from sqlalchemy import select, text

from shared.db import utcnow
from shared.models import AuditEntry, Journal, ReconciliationRun
from shared.reconcile.run import LOCK_KEY
from tests.conftest import ROOT
from tests.support import wait_for

pytestmark = pytest.mark.e2e


def reconcile_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "shared.reconcile", *args]


def run_command(worker_env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        reconcile_command(*args),
        cwd=ROOT,
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def delivered(client, make_user, fund, buy, settle, count: int, phone="08011111111"):
    bought = []
    for _ in range(count):
        user = make_user()
        fund(user, "1000")
        accepted = buy(user, service_id="mtn", phone=phone, amount="100").get_json()
        bought.append((user, settle(user, accepted["id"])))
    return bought


def test_the_command_finds_a_silent_reversal_alone_and_it_is_refunded_once(
    client, admin, make_user, fund, buy, settle, simulator, worker_env, consistent, runtime
):
    since = utcnow()
    bought = delivered(client, make_user, fund, buy, settle, 3)
    user = make_user()
    fund(user, "1000")
    failed = settle(
        user,
        buy(
            user, service_id="airtel", phone=f"0803{random.randrange(10**7):07d}", amount="100"
        ).get_json()["id"],
    )
    assert [p["status"] for _, p in bought] + [failed["status"]] == ["delivered"] * 3 + ["failed"]
    victim_user, victim = bought[1]
    simulator.control("POST", f"transactions/{victim['request_id']}/reverse", repeat_callbacks=0)

    done = run_command(worker_env, "--since", since.isoformat(), "--rate", "50")

    assert done.returncode == 1, done.stdout + done.stderr
    # The package's worker may settle other tests' purchases inside the window: they agree.
    assert " 1 disagree (1 refunded), 0 inconclusive" in done.stdout
    run_id = done.stdout.split()[0]
    with runtime.db.sessions() as session:
        made = session.get(ReconciliationRun, run_id)
        assert made.checked >= 4 and made.agreed == made.checked - 1
    after = client.get(f"/api/v1/purchases/{victim['id']}", headers=victim_user.headers)
    assert after.get_json()["status"] == "reversed"
    assert client.get("/api/v1/wallet", headers=victim_user.headers).get_json()["available"] == (
        "1000.00"
    )
    with runtime.db.sessions() as session:
        kinds = session.execute(
            select(Journal.kind).where(Journal.purchase_id == victim["id"])
        ).scalars()
        assert sorted(kinds) == ["capture", "hold", "refund"]
    report = client.get(f"/api/v1/admin/reconciliations/{run_id}", headers=admin.headers)
    [finding] = report.get_json()["findings"]
    assert (finding["purchase_id"], finding["finding"], finding["action"]) == (
        victim["id"],
        "reversed_at_vtpass",
        "refunded",
    )
    download = client.get(f"/api/v1/admin/reconciliations/{run_id}.csv", headers=admin.headers)
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert [r["purchase_id"] for r in rows] == [victim["id"]]
    # PayLink and VTPass now agree on every purchase, and the books balance.
    consistent([p["id"] for _, p in bought] + [failed["id"]])


def lock_is_free(runtime) -> bool:
    with runtime.db.engine.connect() as conn:
        held = conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND ((classid::bigint << 32) | objid::bigint) = :key"
            ),
            {"key": LOCK_KEY},
        ).scalar()
    return held == 0


def test_a_sigkilled_run_is_resumed_and_every_purchase_is_recorded_once(
    client, make_user, fund, buy, settle, worker_env, runtime, ledger_ok
):
    since = utcnow()
    ids = [p["id"] for _, p in delivered(client, make_user, fund, buy, settle, 8)]
    until = utcnow()
    # Two requeries a second: slow enough to be killed part-way.
    process = subprocess.Popen(
        reconcile_command(
            "--since", since.isoformat(), "--until", until.isoformat(), "--rate", "2"
        ),
        cwd=ROOT,
        env=worker_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def started_run() -> ReconciliationRun | None:
        with runtime.db.sessions() as session:
            return session.execute(
                select(ReconciliationRun).where(
                    ReconciliationRun.status == "running", ReconciliationRun.checked >= 2
                )
            ).scalar_one_or_none()

    try:
        left = wait_for(started_run, timeout=120, what="the run to check two purchases")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    wait_for(lambda: lock_is_free(runtime), timeout=30, what="PostgreSQL to drop the lock")
    with runtime.db.sessions() as session:
        killed = session.get(ReconciliationRun, left.id)
        assert killed.status == "running" and killed.checked < len(ids), "run was not cut short"

    done = run_command(worker_env, "--resume", "--rate", "50")

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{left.id} completed (resumed)" in done.stdout
    assert " 0 disagree (0 refunded), 0 inconclusive" in done.stdout
    with runtime.db.sessions() as session:
        recorded = session.execute(
            select(AuditEntry.purchase_id).where(
                AuditEntry.action == "vtpass.requery",
                AuditEntry.actor == f"reconciliation:{left.id}",
            )
        ).scalars()
        counts: dict[str, int] = {}
        for purchase_id in recorded:
            counts[purchase_id] = counts.get(purchase_id, 0) + 1
    # A purchase whose answer arrived as the process died is asked again, recorded once.
    assert set(ids) <= set(counts) and set(counts.values()) == {1}
    with runtime.db.sessions() as session:
        assert session.get(ReconciliationRun, left.id).checked == len(counts)
    ledger_ok()

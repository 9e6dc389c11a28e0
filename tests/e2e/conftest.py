"""Real Celery worker and beat processes for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from standalone import services
from tests.conftest import ROOT, TESTDATA, private_vhost, settings_env
from tests.support import wait_for

FINAL = {"delivered", "failed", "reversed"}

# The Celery broker of the package's worker and beat, and of the API the tests call. A test
# where the broker matters runs once per broker (`@both_brokers`, ids [redis] and [rabbitmq]);
# every other test gets the default, Redis. The Redis param is None, which is also the cache key
# of an unparametrised request, so [redis] tests and the rest share one worker and beat.
BROKERS = [pytest.param(None, id="redis"), pytest.param("rabbitmq", id="rabbitmq")]
both_brokers = pytest.mark.parametrize("broker", BROKERS, indirect=True)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the [rabbitmq] e2e tests after every other e2e test (after pytest's own grouping by
    parameter), so the package switches broker once instead of starting Redis's worker twice."""
    here = Path(__file__).parent
    slots = [i for i, item in enumerate(items) if here in item.path.parents]

    def on_rabbitmq(item: pytest.Item) -> bool:
        callspec = getattr(item, "callspec", None)
        return callspec is not None and callspec.params.get("broker") == "rabbitmq"

    ordered = sorted((items[i] for i in slots), key=on_rabbitmq)
    for slot, item in zip(slots, ordered, strict=True):
        items[slot] = item


@dataclass(frozen=True)
class Broker:
    name: str
    # CELERY_BROKER_URL for the processes: empty means REDIS_URL.
    url: str


@pytest.fixture(scope="package")
def broker(request, settings) -> Iterator[Broker]:
    """Redis (the default), or a RabbitMQ vhost of this run's own on the machine's RabbitMQ
    (deleted afterwards), so no other run ever sees these messages."""
    if getattr(request, "param", None) != "rabbitmq":
        yield Broker("redis", settings.celery_broker_url)
        return
    with private_vhost() as url:
        yield Broker("rabbitmq", url)


@pytest.fixture(scope="package")
def broker_app(app, settings, broker):
    """The API app publishing to the current broker (the session's app for Redis)."""
    if broker.name == "redis":
        yield app
        return
    from api import create_app

    rabbit_app = create_app(settings.with_overrides(celery_broker_url=broker.url))
    yield rabbit_app
    rabbit_app.extensions["paylink"].close()


@pytest.fixture
def client(broker_app):
    return broker_app.test_client()


class Processes:
    """Worker and beat subprocesses that a test may kill and restart."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env = env
        self.logdir = logdir
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.started = 0

    def start_worker(self, name: str = "worker", concurrency: int = 160) -> subprocess.Popen[bytes]:
        """Start a worker and return once it consumes: a test's own waits then time VTPass and
        PayLink, never how long Python takes to import on a busy machine."""
        self.started += 1
        hostname = f"{name}-{self.started}@%h"
        process = self._spawn(
            name, services.worker_command(concurrency=concurrency, hostname=hostname)
        )
        self.wait_ready(name, process)
        return process

    def wait_ready(self, name: str, process: subprocess.Popen[bytes]) -> None:
        """Poll the worker's log for Celery's "ready." line, written once it consumes its queues."""
        log = self.logdir / f"{name}-{self.started}.log"

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}: {log.read_text()}")
            return " ready." in log.read_text(errors="replace")

        wait_for(ready, timeout=180, interval=0.1, what=f"{name} to consume its queues")

    def start_beat(self) -> subprocess.Popen[bytes]:
        return self._spawn("beat", services.beat_command(schedule=self.logdir / "beat-schedule"))

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.logdir / f"{name}-{self.started}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        self.running[name] = process
        return process

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        process.kill()
        process.wait(timeout=10)

    def stop_all(self) -> None:
        services.stop_all(list(self.running.values()))
        self.running.clear()


@pytest.fixture(scope="session")
def worker_env(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VTPASS_", "PAYLINK_"))}
    env.update(settings_env(settings))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="package")
def processes(worker_env, broker, tmp_path_factory) -> Iterator[Processes]:
    env = {**worker_env, "CELERY_BROKER_URL": broker.url}
    procs = Processes(env, tmp_path_factory.mktemp(f"celery-{broker.name}"))
    procs.start_worker()
    procs.start_beat()
    yield procs
    procs.stop_all()


@pytest.fixture
def settle(client, processes) -> Callable[..., dict[str, Any]]:
    """Wait until a purchase reaches one of `statuses` (final by default) and return it."""

    def settle(user, purchase_id: str, statuses=FINAL, timeout: float = 30.0) -> dict[str, Any]:
        def current():
            body = client.get(f"/api/v1/purchases/{purchase_id}", headers=user.headers).get_json()
            return body if body["status"] in statuses else None

        return wait_for(current, timeout=timeout, what=f"{purchase_id} to reach {statuses}")

    return settle


@pytest.fixture(scope="package")
def live_api(broker_app, simulator) -> Iterator[str]:
    """The API on a real port, so the simulator can POST its callbacks to it."""
    import threading

    from werkzeug.serving import make_server

    app = broker_app
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    callback = (
        f"{url}/api/v1/vtpass/callback/{app.extensions['paylink'].settings.vtpass_callback_token}"
    )
    simulator.control("POST", "config", CALLBACK_URL=callback)
    yield url
    simulator.control("POST", "config", CALLBACK_URL=None)
    server.shutdown()


@pytest.fixture
def consistent(runtime, simulator, ledger_ok) -> Callable[[list[str]], None]:
    """Check a finished scenario: all settled, one charge at most, PayLink agrees with VTPass."""
    from shared.models import Purchase

    def check(purchase_ids: list[str]) -> None:
        charged_by_id = {t["request_id"]: t for t in simulator.transactions()}
        with runtime.db.sessions() as session:
            for purchase_id in purchase_ids:
                p = session.get(Purchase, purchase_id)
                assert p.status in FINAL | {"review"}, (purchase_id, p.status)
                ids = [p.request_id, *p.superseded_request_ids]
                charges = [charged_by_id[i] for i in ids if charged_by_id.get(i, {}).get("charged")]
                assert len(charges) <= 1, (purchase_id, charges)
                vtpass_status = charges[0]["status"] if charges else "failed"
                assert p.status == vtpass_status or p.status == "review", (
                    purchase_id,
                    p.status,
                    vtpass_status,
                )
        ledger_ok()

    return check


@pytest.fixture
def private_stack(settings, worker_env, tmp_path):
    """Build an app with its own Redis and its own worker and beat, set up as the test asks.

    For tests that restart Redis or need other worker settings: the machine's shared Redis
    and the package's worker are never touched.
    """
    from api import create_app

    started: list[tuple[Processes, dict]] = []

    def build(concurrency: int = 32, **overrides):
        port = services.free_port()
        redis = services.start_redis(TESTDATA / f"redis-{port}", port)
        redis_url = f"redis://127.0.0.1:{port}/0"
        app = create_app(settings.with_overrides(redis_url=redis_url, **overrides))
        env = {
            **worker_env,
            **settings_env(settings.with_overrides(redis_url=redis_url, **overrides)),
        }
        procs = Processes(env, tmp_path)
        procs.start_worker(concurrency=concurrency)
        procs.start_beat()
        state = {"redis": redis, "port": port}
        started.append((procs, state))
        return app, procs, state

    yield build
    for procs, state in started:
        procs.stop_all()
        state["redis"].terminate()
        state["redis"].wait(timeout=10)


def api_user(app, amount: int = 10_000) -> dict[str, str]:
    """Register a funded user on `app`; return its auth headers."""
    import uuid

    from shared import ledger

    client = app.test_client()
    email, password = f"u-{uuid.uuid4().hex[:10]}@example.com", "correct-horse-42"
    user_id = client.post(
        "/api/v1/auth/register", json={"email": email, "password": password}
    ).get_json()["id"]
    token = client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}
    ).get_json()["access_token"]
    with app.extensions["paylink"].db.transaction() as session:
        ledger.credit(
            session, user_id=user_id, amount=amount, reference=uuid.uuid4().hex, actor="t"
        )
    return {"Authorization": f"Bearer {token}"}

"""Fixtures built from the factory, on real PostgreSQL and Redis.

The machine's PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are used when they
answer; otherwise embedded ones are started from pip packages. Each run gets its own
database, migrated with Alembic (never create_all), and its own Redis database number.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import requests
from alembic import command
from alembic.config import Config

from shared.config import Settings
from standalone import services
from tests.support import wait_for

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = ROOT / ".testdata"
SIM_KEYS = {"api_key": "sim-api-key", "public_key": "PK_sim", "secret_key": "SK_sim"}
CALLBACK_TOKEN = "test-callback-token"
ADMIN_EMAIL = "ops@paylink.test"
ADMIN_PASSWORD = "operator-password-1"


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    if services.reachable("127.0.0.1", 5432):
        return "postgresql://postgres@127.0.0.1:5432/postgres"
    return services.start_embedded_postgres(TESTDATA / "postgres")


def migrated_database(pg_admin_url: str, name: str) -> str:
    """Create an empty database, migrate it to head with Alembic, and return its URL."""
    services.drop_database(pg_admin_url, name)
    url = services.ensure_database(pg_admin_url, name)
    config = Config(str(ROOT / "alembic.ini"))
    config.cmd_opts = None
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    try:
        command.upgrade(config, "head")
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous
    return url


@pytest.fixture(scope="session")
def database_url(pg_admin_url: str) -> Iterator[str]:
    name = f"paylink_test_{os.getpid()}"
    url = migrated_database(pg_admin_url, name)
    yield url
    services.drop_database(pg_admin_url, name)


@pytest.fixture
def private_database(pg_admin_url: str) -> Iterator[str]:
    """A database of the test's own, for a stack no other test's worker or beat may touch."""
    name = f"paylink_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = migrated_database(pg_admin_url, name)
    yield url
    services.drop_database(pg_admin_url, name)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if services.reachable("127.0.0.1", 6379):
        # Claim a database number of the shared Redis, so two suites on one machine never
        # consume each other's Celery messages.
        for db in range(8, 16):
            url = f"redis://127.0.0.1:6379/{db}"
            client = redis_lib.Redis.from_url(url)
            if client.set("paylink:test-suite-owner", os.getpid(), nx=True, ex=3 * 3600):
                for key in client.scan_iter():
                    if key != b"paylink:test-suite-owner":
                        client.delete(key)
                yield url
                client.flushdb()
                return
        pytest.exit("every Redis database 8-15 is claimed by another test run")
    port = services.free_port()
    process = services.start_redis(TESTDATA / "redis", port)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@dataclass
class Simulator:
    """The VTPass sandbox simulator, and its test controls."""

    url: str

    @property
    def base_url(self) -> str:
        return self.url + "/api"

    def control(self, method: str, path: str, **body: Any) -> Any:
        response = requests.request(method, f"{self.url}/_sim/{path}", json=body or None, timeout=5)
        response.raise_for_status()
        return response.json() if response.content else None

    def script(self, customer: str, behaviour: str, **params: Any) -> None:
        self.control("POST", "scripts", customer=customer, behaviour=behaviour, **params)

    def transactions(self) -> list[dict[str, Any]]:
        return self.control("GET", "transactions")["data"]

    def transaction(self, request_id: str) -> dict[str, Any] | None:
        return next((t for t in self.transactions() if t["request_id"] == request_id), None)


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    from simulator.server import start_in_thread

    running = start_in_thread(
        {
            "API_KEY": "sim-api-key",
            "PUBLIC_KEY": "PK_sim",
            "SECRET_KEY": "SK_sim",
            "TIMEOUT_STALL_S": 6,
            "DUPLICATE_GUARD_S": 30,
        }
    )
    yield Simulator(running.url)
    running.stop()


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str, simulator: Simulator) -> Settings:
    return Settings(
        env="development",
        database_url=database_url,
        redis_url=redis_url,
        vtpass_base_url=simulator.base_url,
        vtpass_api_key=SIM_KEYS["api_key"],
        vtpass_public_key=SIM_KEYS["public_key"],
        vtpass_secret_key=SIM_KEYS["secret_key"],
        vtpass_connect_timeout=1.0,
        vtpass_read_timeout=2.0,
        vtpass_callback_token=CALLBACK_TOKEN,
        jwt_secret_key="test-jwt-secret-" + "x" * 32,
        webhook_allow_private=True,
        catalog_cache_ttl=60,
        requery_delays=(0.2, 0.4, 0.8),
        webhook_retry_delays=(0.2, 0.5, 1.0),
        queued_grace_s=1.0,
        publish_lease_s=2.0,
        not_found_grace_s=1.0,
        processing_margin_s=1.0,
        # Tests make far more requests per minute from one address than any client should.
        rate_limit_default="100000/minute",
        rate_limit_auth="100000/minute",
        rate_limit_purchases="100000/minute",
        sweep_interval_s=0.3,
        reconcile_at_utc=RECONCILE_AT_UTC,
    )


# The beat's daily reconciliation starts 12 hours after the session did: a test run that
# crosses 01:00 UTC never starts a real one under the tests' feet.
RECONCILE_AT_UTC = (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a subprocess load exactly these settings."""
    return {
        "PAYLINK_ENV": settings.env,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "CELERY_BROKER_URL": settings.celery_broker_url,
        "VTPASS_BASE_URL": settings.vtpass_base_url,
        "VTPASS_API_KEY": settings.vtpass_api_key,
        "VTPASS_PUBLIC_KEY": settings.vtpass_public_key,
        "VTPASS_SECRET_KEY": settings.vtpass_secret_key,
        "VTPASS_CONNECT_TIMEOUT": str(settings.vtpass_connect_timeout),
        "VTPASS_READ_TIMEOUT": str(settings.vtpass_read_timeout),
        "VTPASS_CALLBACK_TOKEN": settings.vtpass_callback_token,
        "JWT_SECRET_KEY": settings.jwt_secret_key,
        "PAYLINK_WEBHOOK_ALLOW_PRIVATE": "1",
        "PAYLINK_REQUERY_DELAYS": ",".join(str(d) for d in settings.requery_delays),
        "PAYLINK_WEBHOOK_RETRY_DELAYS": ",".join(str(d) for d in settings.webhook_retry_delays),
        "PAYLINK_QUEUED_GRACE_S": str(settings.queued_grace_s),
        "PAYLINK_PUBLISH_LEASE_S": str(settings.publish_lease_s),
        "PAYLINK_NOT_FOUND_GRACE_S": str(settings.not_found_grace_s),
        "PAYLINK_PROCESSING_MARGIN_S": str(settings.processing_margin_s),
        "PAYLINK_SWEEP_INTERVAL_S": str(settings.sweep_interval_s),
        "PAYLINK_CATALOG_CACHE_TTL": str(settings.catalog_cache_ttl),
        "PAYLINK_WEBHOOK_ATTEMPT_DEADLINE_S": str(settings.webhook_attempt_deadline_s),
        "PAYLINK_WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT": str(
            settings.webhook_max_in_flight_per_endpoint
        ),
        "PAYLINK_WEBHOOK_MAX_IN_FLIGHT_PER_USER": str(settings.webhook_max_in_flight_per_user),
        "PAYLINK_WEBHOOK_MAX_ENDPOINTS": str(settings.webhook_max_endpoints),
        "PAYLINK_FLOAT_LOW": str(settings.float_low),
        "PAYLINK_FLOAT_WAIT_S": str(settings.float_wait_s),
        "PAYLINK_FLOAT_POLL_S": str(settings.float_poll_s),
        "PAYLINK_RECONCILE_AT_UTC": settings.reconcile_at_utc,
        "OTEL_EXPORTER_OTLP_ENDPOINT": settings.otel_exporter_otlp_endpoint,
    }


@pytest.fixture(scope="session")
def app(settings: Settings):
    from api import create_app

    return create_app(settings)


@pytest.fixture(scope="session")
def runtime(app):
    return app.extensions["paylink"]


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class Caller:
    """A logged-in user of the API."""

    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


_emails = itertools.count()


def login(client, email: str, password: str) -> dict[str, Any]:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def make_user(client) -> Callable[..., Caller]:
    def make() -> Caller:
        email = f"user{next(_emails)}-{uuid.uuid4().hex[:8]}@example.com"
        password = "correct-horse-42"
        response = client.post("/api/v1/auth/register", json={"email": email, "password": password})
        assert response.status_code == 201, response.get_json()
        tokens = login(client, email, password)
        return Caller(
            response.get_json()["id"],
            email,
            password,
            tokens["access_token"],
            tokens["refresh_token"],
        )

    return make


@pytest.fixture
def admin(client, runtime) -> Caller:
    from shared.users import ensure_admin

    user, _ = ensure_admin(runtime.db, email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    tokens = login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    return Caller(
        user.id, ADMIN_EMAIL, ADMIN_PASSWORD, tokens["access_token"], tokens["refresh_token"]
    )


@pytest.fixture
def fund(client, admin) -> Callable[[Caller, str], None]:
    def fund(user: Caller, amount: str | Decimal) -> None:
        response = client.post(
            f"/api/v1/admin/users/{user.id}/wallet/credits",
            json={"amount": str(amount), "reference": uuid.uuid4().hex},
            headers=admin.headers,
        )
        assert response.status_code == 201, response.get_json()

    return fund


@pytest.fixture
def buy(client) -> Callable[..., Any]:
    """POST a purchase with a fresh Idempotency-Key (or the one given)."""

    def buy(user: Caller, key: str | None = None, **body: Any):
        headers = {**user.headers, "Idempotency-Key": key or uuid.uuid4().hex}
        return client.post("/api/v1/purchases", json=body, headers=headers)

    return buy


@pytest.fixture
def ledger_ok(runtime) -> Callable[[], None]:
    """Assert the whole ledger's invariants (call after every money scenario)."""
    from shared.ledger import check_invariants

    def check() -> None:
        with runtime.db.sessions() as session:
            problems = check_invariants(session)
        assert problems == []

    return check


@pytest.fixture
def receiver():
    """Start local webhook receivers (tests/receiver.py); they stop after the test."""
    from tests.receiver import Receiver

    started: list[Receiver] = []

    def start(**options) -> Receiver:
        started.append(Receiver(**options).start())
        return started[-1]

    yield start
    for r in started:
        r.stop()


@pytest.fixture
def trickler():
    """Start hostile receivers that never finish answering (tests/receiver.py)."""
    from tests.receiver import Trickler

    started: list[Trickler] = []

    def start(**options) -> Trickler:
        started.append(Trickler(**options).start())
        return started[-1]

    yield start
    for t in started:
        t.stop()


__all__ = ["wait_for"]


RABBITMQ = "127.0.0.1:5672"


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False
    )


@contextlib.contextmanager
def private_vhost() -> Iterator[str]:
    """An amqp:// URL to a vhost of its own on the machine's RabbitMQ, deleted on exit.

    The shared server is never stopped; a vhost keeps one user's queues apart from everyone's.
    Skips the test when no vhost can be made.
    """
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed: cannot make a vhost of the test's own")
    vhost = f"paylink-test-{uuid.uuid4().hex[:12]}"
    made = _rabbitmqctl("add_vhost", vhost)
    if made.returncode != 0:
        pytest.skip(f"rabbitmqctl add_vhost failed: {made.stderr.strip()[:200]}")
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{RABBITMQ}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def rabbitmq_vhost() -> Iterator[str]:
    """An amqp:// URL to a vhost of this test's own on the machine's RabbitMQ (deleted after)."""
    with private_vhost() as url:
        yield url


def rabbitmq_queues(url: str) -> dict[str, tuple[str, int]]:
    """Each queue of the URL's vhost: (type, messages), as RabbitMQ reports them (the message
    counts are statistics RabbitMQ refreshes every few seconds)."""
    vhost = url.rsplit("/", 1)[1]
    listed = _rabbitmqctl("list_queues", "-q", "-p", vhost, "name", "type", "messages")
    rows = [line.split("\t") for line in listed.stdout.splitlines() if "\t" in line]
    return {name: (kind, int(count)) for name, kind, count in rows if name != "name"}

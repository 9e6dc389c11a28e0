"""`GET /metrics` for Prometheus: HTTP traffic of this process, and the state of the money.

- Only a caller with `Authorization: Bearer <PAYLINK_METRICS_TOKEN>` is answered (production
  requires the token; without one, in development, the endpoint is open).
- Purchase and webhook figures are read from PostgreSQL by a timer thread every
  `PAYLINK_METRICS_INTERVAL_S`, never by a scrape, so scraping (or flooding) `/metrics` costs
  no database work. Every API process reports the same truth whichever worker did the work.
  A new database- or broker-backed gauge is one more function in `GAUGES`: the broker's
  gauges are the depth of each Celery queue and the workers consuming it (asked of the
  workers over the broker, waiting at most `WORKER_REPLY_WAIT_S`).
- Request metrics are labelled with a fixed set of methods and the app's own route rules
  (anything else is `other`), so odd methods or paths cannot grow memory.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from celery import Celery
from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from shared import float as vtfloat
from shared.db import utcnow
from shared.reconcile import Finding
from shared.runtime import Runtime
from workers.celery_app import QUEUES, celery_config

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# How long the first scrape of a process waits for the timer's first sample (the database
# queries plus at most `WORKER_REPLY_WAIT_S` for the workers' answers).
FIRST_SAMPLE_WAIT_S = 3.0


def ledger_gauges(rt: Runtime) -> Iterable[Metric]:
    """Purchases by status, the oldest unsettled one, webhook deliveries, failing endpoints."""
    purchases = GaugeMetricFamily("paylink_purchases", "Purchases by status", labels=["status"])
    oldest = GaugeMetricFamily(
        "paylink_oldest_unsettled_purchase_seconds",
        "Age of the oldest purchase still queued, processing or pending",
    )
    deliveries = GaugeMetricFamily(
        "paylink_webhook_deliveries", "Webhook deliveries by status", labels=["status"]
    )
    failing = GaugeMetricFamily(
        "paylink_webhook_endpoints_failing",
        "Enabled webhook endpoints whose deliveries are failing (failing_since is set)",
    )
    with rt.db.engine.connect() as conn:
        failing.add_metric(
            [],
            conn.execute(
                text(
                    "SELECT count(*) FROM webhook_endpoints WHERE enabled "
                    "AND deleted_at IS NULL AND failing_since IS NOT NULL"
                )
            ).scalar()
            or 0,
        )
        for status, count in conn.execute(
            text("SELECT status, count(*) FROM purchases GROUP BY status")
        ):
            purchases.add_metric([status], count)
        age = conn.execute(
            text(
                "SELECT extract(epoch FROM now() - min(created_at)) FROM purchases "
                "WHERE status IN ('queued', 'processing', 'pending')"
            )
        ).scalar()
        oldest.add_metric([], float(age or 0))
        for status, count in conn.execute(
            text("SELECT status, count(*) FROM webhook_deliveries GROUP BY status")
        ):
            deliveries.add_metric([status], count)
    return [purchases, oldest, deliveries, failing]


_brokers: dict[str, Celery] = {}
# How long the timer waits for workers to answer "which queues do you consume?".
WORKER_REPLY_WAIT_S = 1.0


def _broker(rt: Runtime) -> Celery:
    """One Celery app per broker URL for the gauges (never the app that publishes purchases)."""
    url = rt.settings.broker_url
    if url not in _brokers:
        broker = Celery("paylink-metrics")
        broker.config_from_object(celery_config(rt.settings))
        _brokers[url] = broker
    return _brokers[url]


def queue_depth(conn: Any, queue: str) -> int:
    """Messages waiting in one queue; a queue nobody declared yet holds none."""
    # A channel per queue: on RabbitMQ a NOT_FOUND closes the channel that asked.
    with conn.channel() as channel:
        try:
            return int(channel.queue_declare(queue, passive=True).message_count)
        except conn.channel_errors:
            return 0


def broker_gauges(rt: Runtime) -> Iterable[Metric]:
    """Messages waiting per Celery queue, and the workers consuming each queue."""
    depth = GaugeMetricFamily(
        "paylink_celery_queue_depth", "Messages waiting in each Celery queue", labels=["queue"]
    )
    workers = GaugeMetricFamily(
        "paylink_celery_workers", "Celery workers consuming each queue", labels=["queue"]
    )
    broker = _broker(rt)
    with broker.connection_for_read() as conn:
        for queue in QUEUES:
            depth.add_metric([queue], queue_depth(conn, queue))
    replies = broker.control.inspect(timeout=WORKER_REPLY_WAIT_S).active_queues() or {}
    for queue in QUEUES:
        consuming = sum(
            1 for queues in replies.values() if any(q.get("name") == queue for q in queues)
        )
        workers.add_metric([queue], consuming)
    return [depth, workers]


def float_gauges(rt: Runtime) -> Iterable[Metric]:
    """The VTPass float as last read, whether it is below PAYLINK_FLOAT_LOW, and its age."""
    naira = GaugeMetricFamily("paylink_vtpass_float_naira", "VTPass wallet balance, last read")
    low = GaugeMetricFamily(
        "paylink_vtpass_float_low", "1 when the VTPass float is below PAYLINK_FLOAT_LOW"
    )
    age = GaugeMetricFamily(
        "paylink_vtpass_float_age_seconds", "Seconds since the VTPass float was last read"
    )
    waiting = GaugeMetricFamily(
        "paylink_purchases_waiting_for_float", "Queued purchases held until the float covers them"
    )
    with rt.db.transaction() as session:
        reading = vtfloat.latest(session)
        waiting.add_metric([], vtfloat.waiting_count(session))
    if reading is not None:
        naira.add_metric([], float(reading.balance))
        low.add_metric([], 1.0 if reading.balance < Decimal(str(rt.settings.float_low)) else 0.0)
        age.add_metric([], (utcnow() - reading.checked_at).total_seconds())
    return [naira, low, age, waiting]


def reconciliation_metrics(rt: Runtime) -> Iterable[Metric]:
    """Disagreements reconciliation runs found, by finding, the last completed run's age (a
    run whose answers were mostly inconclusive is not completed), and whether the last finished
    run could not tell.

    A true counter whatever process ran the reconciliation: findings are append-only rows.
    Every finding is exported from zero, so the first disagreement shows as an increase.
    """
    found = CounterMetricFamily(
        "paylink_reconciliation_disagreements",
        "Disagreements with VTPass found by reconciliation runs, by finding",
        labels=["finding"],
    )
    age = GaugeMetricFamily(
        "paylink_reconciliation_last_completed_age_seconds",
        "Seconds since the last reconciliation run with VTPass completed",
    )
    could_not_tell = GaugeMetricFamily(
        "paylink_reconciliation_last_run_inconclusive",
        "1 if the last finished reconciliation run's answers were mostly inconclusive, else 0",
    )
    with rt.db.engine.connect() as conn:
        latest = conn.execute(
            text(
                "SELECT status FROM reconciliation_runs WHERE status <> 'running' "
                "ORDER BY finished_at DESC LIMIT 1"
            )
        ).scalar()
        counts: dict[str, int] = dict(
            conn.execute(
                text("SELECT finding, count(*) FROM reconciliation_findings GROUP BY finding")
            ).all()
        )
        last = conn.execute(
            text(
                "SELECT extract(epoch FROM now() - max(finished_at)) FROM reconciliation_runs "
                "WHERE status = 'completed'"
            )
        ).scalar()
    for finding in Finding:
        if finding.is_disagreement:
            found.add_metric([finding.value], counts.get(finding.value, 0))
    if last is not None:
        age.add_metric([], float(last))
    could_not_tell.add_metric([], float(latest == "inconclusive"))
    return [found, age, could_not_tell]


# Every gauge the timer computes: each reads what it needs from the runtime.
GAUGES: list[Callable[[Runtime], Iterable[Metric]]] = [
    ledger_gauges,
    broker_gauges,
    float_gauges,
    reconciliation_metrics,
]


class GaugeSampler(Collector):
    """Compute `GAUGES` on a timer thread; scrapes read the latest sample."""

    def __init__(self, rt: Runtime, interval: float) -> None:
        self.rt = rt
        self.interval = interval
        self._sample: list[Metric] = []
        self._sampled_at: float | None = None
        self._sampled = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the timer thread once per process (after any fork: on the first scrape)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="metrics-gauges", daemon=True
                )
                self._thread.start()
        self._sampled.wait(FIRST_SAMPLE_WAIT_S)

    def sample(self) -> None:
        """Compute every gauge now; a failing source keeps the others."""
        metrics: list[Metric] = []
        for source in GAUGES:
            try:
                metrics.extend(source(self.rt))
            except Exception:  # noqa: BLE001 - a down database must not stop the timer
                log.warning("could not compute the %s gauges", source.__name__, exc_info=True)
        self._sample, self._sampled_at = metrics, time.time()
        self._sampled.set()

    def _run(self) -> None:
        while True:
            self.sample()
            time.sleep(self.interval)

    def collect(self) -> Iterator[Metric]:
        yield from self._sample
        age = GaugeMetricFamily(
            "paylink_gauges_age_seconds", "Seconds since the database-backed gauges were computed"
        )
        if self._sampled_at is not None:
            age.add_metric([], time.time() - self._sampled_at)
        yield age


class Metrics:
    """One app's registry: its HTTP counters and the timer-computed gauges."""

    def __init__(self, rt: Runtime) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "paylink_http_requests",
            "HTTP requests answered, by route, method and status",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "paylink_http_request_seconds",
            "Time to answer an HTTP request, by route",
            ["endpoint"],
            registry=self.registry,
        )
        self.gauges = GaugeSampler(rt, rt.settings.metrics_interval_s)
        self.registry.register(self.gauges)


def init_metrics(app: Flask, rt: Runtime) -> None:
    """Count and time every request; expose the timer-computed gauges."""
    metrics = app.extensions["metrics"] = Metrics(rt)

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "other"
        method = request.method if request.method in METHODS else "other"
        metrics.requests.labels(route, method, str(response.status_code)).inc()
        if "started" in g:
            metrics.latency.labels(route).observe(time.perf_counter() - g.started)
        return response


@bp.get("/metrics")
def expose() -> Response:
    """Expose the metrics in Prometheus's text format (bearer token required when set)."""
    expected = current_app.extensions["paylink"].settings.metrics_token
    if expected:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {expected}".encode()):
            raise Unauthorized(www_authenticate=WWWAuthenticate("bearer"))
    metrics = current_app.extensions["metrics"]
    metrics.gauges.start()
    return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

"""`GET /metrics` for Prometheus: HTTP traffic of this process, and the state of the money.

- Only a caller with `Authorization: Bearer <PAYLINK_METRICS_TOKEN>` is answered (production
  requires the token; without one, in development, the endpoint is open).
- Purchase and webhook figures are read from PostgreSQL by a timer thread every
  `PAYLINK_METRICS_INTERVAL_S`, never by a scrape, so scraping (or flooding) `/metrics` costs
  no database work. Every API process reports the same truth whichever worker did the work.
  A new database- or broker-backed gauge is one more function in `GAUGES`.
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

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from shared import float as vtfloat
from shared.db import utcnow
from shared.runtime import Runtime

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# How long the first scrape of a process waits for the timer's first sample.
FIRST_SAMPLE_WAIT_S = 2.0


def ledger_gauges(rt: Runtime) -> Iterable[Metric]:
    """Purchases by status, the oldest unsettled one, and webhook deliveries by status."""
    purchases = GaugeMetricFamily("paylink_purchases", "Purchases by status", labels=["status"])
    oldest = GaugeMetricFamily(
        "paylink_oldest_unsettled_purchase_seconds",
        "Age of the oldest purchase still queued, processing or pending",
    )
    deliveries = GaugeMetricFamily(
        "paylink_webhook_deliveries", "Webhook deliveries by status", labels=["status"]
    )
    with rt.db.engine.connect() as conn:
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
    return [purchases, oldest, deliveries]


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


# Every gauge the timer computes: each reads what it needs from the runtime.
GAUGES: list[Callable[[Runtime], Iterable[Metric]]] = [ledger_gauges, float_gauges]


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

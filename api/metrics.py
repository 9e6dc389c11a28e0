"""`GET /metrics` for Prometheus: HTTP traffic of this process, and the state of the money.

Purchase and webhook figures are read from PostgreSQL at scrape time, so every API process
reports the same truth whichever worker did the work (no multiprocess bookkeeping).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

from shared.db import Database

bp = Blueprint("metrics", __name__)


class LedgerCollector(Collector):
    """Purchases by status, the oldest unsettled one, and webhook deliveries by status."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        purchases = GaugeMetricFamily("paylink_purchases", "Purchases by status", labels=["status"])
        oldest = GaugeMetricFamily(
            "paylink_oldest_unsettled_purchase_seconds",
            "Age of the oldest purchase still queued, processing or pending",
        )
        deliveries = GaugeMetricFamily(
            "paylink_webhook_deliveries", "Webhook deliveries by status", labels=["status"]
        )
        with self.db.engine.connect() as conn:
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
        yield purchases
        yield oldest
        yield deliveries


class Metrics:
    """One app's registry: its HTTP counters and the database-backed gauges."""

    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "paylink_http_requests",
            "HTTP requests answered, by endpoint and status",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "paylink_http_request_seconds",
            "Time to answer an HTTP request, by endpoint",
            ["endpoint"],
            registry=self.registry,
        )
        self.registry.register(LedgerCollector(db))


def init_metrics(app: Flask, db: Database) -> None:
    """Count and time every request; expose the database-backed gauges."""
    metrics = app.extensions["metrics"] = Metrics(db)

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
        if "started" in g:
            metrics.latency.labels(endpoint).observe(time.perf_counter() - g.started)
        return response


@bp.get("/metrics")
def expose() -> Response:
    """Expose the metrics in Prometheus's text format."""
    registry = current_app.extensions["metrics"].registry
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

"""Optional OpenTelemetry tracing (shared/telemetry.py).

On: one purchase is one trace, from the API request through RabbitMQ (the context rides in the
message headers) to the Celery task and its VTPass call. Spans go to an in-memory exporter set
with the module's test hook, never to the network. Off: no instrumentation is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from shared import telemetry
from tests.conftest import ROOT, settings_env
from tests.support import wait_for

# What PayLink itself would import to trace (redis-py imports the bare SDK on its own, for an
# observability of its own that stays off).
TRACING_MODULES = (
    "import json, sys\n"
    "import workers.entry\n"
    "from shared import telemetry\n"
    "prefixes = ('opentelemetry.instrumentation', 'opentelemetry.exporter')\n"
    "modules = sorted(m for m in sys.modules if m.startswith(prefixes))\n"
    "print(json.dumps({'on': telemetry.is_on(), 'modules': modules}))\n"
)


def test_without_the_endpoint_nothing_is_imported_or_instrumented(settings):
    # A fresh process: this one may have imported OpenTelemetry for the test below.
    done = subprocess.run(
        [sys.executable, "-c", TRACING_MODULES],
        cwd=ROOT,
        env={**os.environ, **settings_env(settings), "OTEL_EXPORTER_OTLP_ENDPOINT": ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"on": False, "modules": []}


def test_recorded_urls_drop_queries_and_the_callback_token():
    assert telemetry.scrub_url("/api/v1/vtpass/callback/s3cr3t") == "/api/v1/vtpass/callback/***"
    assert telemetry.scrub_url("http://h/api/v1/vtpass/callback/s3cr3t?x=1") == (
        "http://h/api/v1/vtpass/callback/***"
    )
    assert telemetry.scrub_url("https://merchant.example/hook?token=abc") == (
        "https://merchant.example/hook"
    )


def test_one_purchase_is_one_trace_from_the_request_through_the_task_to_vtpass(
    settings, rabbitmq_vhost, simulator
):
    from celery.contrib.testing.worker import start_worker
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from api import create_app
    from tests.e2e.conftest import api_user
    from workers import tasks, webhook_tasks  # noqa: F401  (registers the tasks)

    exporter = InMemorySpanExporter()
    telemetry.export_to(exporter)
    app = create_app(
        settings.with_overrides(
            celery_broker_url=rabbitmq_vhost,
            # Turns tracing on; the test hook sends the spans to memory instead.
            otel_exporter_otlp_endpoint="http://127.0.0.1:9",
        )
    )
    try:
        assert telemetry.is_on()
        client = app.test_client()
        headers = api_user(app)
        body = {"service_id": "mtn", "phone": "08011111111", "amount": 100}
        accepted = client.post(
            "/api/v1/purchases",
            json=body,
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert accepted.status_code == 202, accepted.get_json()
        purchase_id = accepted.get_json()["id"]
        # A worker in this process, consuming the vhost: its spans reach the same exporter.
        with start_worker(
            app.extensions["celery"], pool="threads", perform_ping_check=False, shutdown_timeout=30
        ) as worker:
            # Wake the worker's event loop often, so it sees the end of the test at once
            # instead of after its longest poll (10 s).
            worker.timer.call_repeatedly(0.2, lambda: None)
            wait_for(
                lambda: (
                    client.get(f"/api/v1/purchases/{purchase_id}", headers=headers).get_json()[
                        "status"
                    ]
                    == "delivered"
                ),
                timeout=60,
                what="the traced purchase to be delivered",
            )
        # A VTPass callback: its URL holds the secret callback token.
        callback = client.post(
            f"/api/v1/vtpass/callback/{settings.vtpass_callback_token}",
            json={"type": "transaction-update", "data": {"requestId": "nope"}},
        )
        assert callback.get_json() == {"response": "success"}
    finally:
        telemetry.stop(app)
        telemetry.export_to(None)
        app.extensions["paylink"].close()

    spans = exporter.get_finished_spans()
    request = next(
        s for s in spans if s.kind == SpanKind.SERVER and s.name == "POST /api/v1/purchases"
    )
    trace_id = request.context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    assert "apply_async/purchases.pay" in names  # the publish, from the API
    task = next(s for s in in_trace if s.name == "run/purchases.pay")
    assert task.kind == SpanKind.CONSUMER
    vtpass = [
        s
        for s in in_trace
        if s.kind == SpanKind.CLIENT
        and str(s.attributes.get("url.full") or s.attributes.get("http.url") or "").endswith(
            "/api/pay"
        )
    ]
    assert len(vtpass) == 1, sorted(names)
    by_id = {s.context.span_id: s for s in in_trace}

    def ancestors(span):
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            yield span

    # The VTPass call happened inside the task, and the task descends from the API request.
    assert task in ancestors(vtpass[0])
    assert request in ancestors(task)
    # SQL is traced too, in the API and in the worker.
    sql = [s for s in in_trace if s.attributes.get("db.system") == "postgresql"]
    assert any(request in ancestors(s) for s in sql)
    assert any(task in ancestors(s) for s in sql)
    # No secret in any span: the VTPass keys are headers, never recorded; the callback's
    # path is recorded with its token masked.
    callback_span = next(s for s in spans if s.kind == SpanKind.SERVER and "callback" in s.name)
    assert any("/vtpass/callback/***" in str(v) for v in callback_span.attributes.values())
    recorded = json.dumps([[s.name, dict(s.attributes or {})] for s in spans], default=str)
    for secret in (
        settings.vtpass_api_key,
        settings.vtpass_secret_key,
        settings.jwt_secret_key,
        settings.vtpass_callback_token,
    ):
        assert secret not in recorded

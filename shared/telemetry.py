"""Optional OpenTelemetry tracing: on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else off.

Off, nothing of OpenTelemetry is even imported. On, one purchase is one trace: the API request
(Flask), the publish and the task (Celery; the trace context rides in the message headers, so
the worker's spans join the API's trace), every VTPass or webhook call (requests) and the SQL
(SQLAlchemy), exported over OTLP/HTTP to `<endpoint>/v1/traces`. The standard `OTEL_*`
variables (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`, ...)
apply as usual.

Secrets stay out of spans: no headers or bodies are recorded, query strings are dropped from
recorded URLs and the VTPass callback token in the callback path is written `***`.

`create_app` calls `instrument_app` for every process (API, worker, beat and the stream
process all build the app); the worker also calls `after_worker_fork` from Celery's
`worker_process_init`, for a prefork pool's children.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy import Engine

    from shared.config import Settings

log = logging.getLogger(__name__)

# URL attributes (old and new HTTP semantic conventions) scrubbed on server and client spans.
_URL_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.full", "url.query")
_CALLBACK_TOKEN = re.compile(r"(/vtpass/callback/)[^/?#]+")

_lock = threading.Lock()
_provider: TracerProvider | None = None
_exporter_for_tests: SpanExporter | None = None
_instrumented_engines: list[Engine] = []


def export_to(exporter: SpanExporter | None) -> None:
    """Test hook: spans of the tracing started next go to `exporter` (e.g. an in-memory one)
    instead of OTLP, each as soon as it ends. `None` restores OTLP."""
    global _exporter_for_tests
    _exporter_for_tests = exporter


def is_on() -> bool:
    """Whether this process traces."""
    return _provider is not None


def scrub_url(value: str) -> str:
    """A URL or path as spans may record it: no query string, no callback token."""
    return _CALLBACK_TOKEN.sub(r"\1***", value.split("?", 1)[0])


def instrument_app(app: Flask, settings: Settings, engine: Engine) -> bool:
    """Trace this app's requests, its database engine, requests and Celery, when configured.

    Return whether tracing is on. Without an endpoint nothing is imported or patched.
    """
    if not settings.otel_exporter_otlp_endpoint:
        return False
    provider = _start(settings)
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # At the response: the instrumentation sets the URL attributes after its request hook.
    FlaskInstrumentor.instrument_app(
        app,
        response_hook=lambda span, _status, _headers: _scrub_span(span),
        tracer_provider=provider,
    )
    with _lock:
        # The instrumentor traces the engines of its first call; later apps in one process
        # (tests) keep theirs untraced rather than patching engine creation globally.
        if not _instrumented_engines:
            # It declares SQLAlchemy < 2.1 (its newest release too) while PayLink runs 2.1;
            # the engine events it uses are unchanged, and tests/shared/test_telemetry.py
            # checks that the SQL spans arrive.
            SQLAlchemyInstrumentor().instrument(
                engine=engine, tracer_provider=provider, skip_dep_check=True
            )
            _instrumented_engines.append(engine)
    return True


def after_worker_fork() -> None:
    """In a prefork pool's child: the span processor's export thread did not survive the
    fork; the SDK restarts it by itself, and the patched libraries stay patched. Log it so an
    operator can see tracing is on in each child."""
    if _provider is not None:
        log.info("tracing on in worker child")


def _start(settings: Settings) -> TracerProvider:
    """Create the process's tracer provider once and instrument requests and Celery."""
    global _provider
    with _lock:
        if _provider is not None:
            return _provider
        from opentelemetry import trace
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        resource = Resource.create()  # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, if set
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "paylink"}))
        provider = TracerProvider(resource=resource)
        if _exporter_for_tests is not None:
            provider.add_span_processor(SimpleSpanProcessor(_exporter_for_tests))
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
            # Tests keep the process-wide provider untouched (it can be set only once).
            trace.set_tracer_provider(provider)
        # Before the call (an exception ends the span with what was set then) and after the
        # answer (the instrumentation sets its URL attributes again).
        RequestsInstrumentor().instrument(
            tracer_provider=provider,
            request_hook=lambda span, _request: _scrub_span(span),
            response_hook=lambda span, _request, _response: _scrub_span(span),
        )
        CeleryInstrumentor().instrument(tracer_provider=provider)
        _provider = provider
        log.info("tracing on: OTLP spans to %s", settings.otel_exporter_otlp_endpoint)
        return provider


def stop(app: Flask | None = None) -> None:
    """Undo every instrumentation and forget the provider (tests; a process exiting)."""
    global _provider
    with _lock:
        if _provider is None:
            return
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.flask import FlaskInstrumentor
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        if app is not None:
            FlaskInstrumentor.uninstrument_app(app)
        RequestsInstrumentor().uninstrument()
        CeleryInstrumentor().uninstrument()
        SQLAlchemyInstrumentor().uninstrument()
        _instrumented_engines.clear()
        _provider.shutdown()
        _provider = None


def _scrub_span(span: Any) -> None:
    attributes = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, "" if key == "url.query" else scrub_url(value))

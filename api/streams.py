"""Live status over Server-Sent Events: one purchase, or all of the caller's purchase events.

Served best by the stream process (gunicorn's gevent worker, `standalone/services.py`), where
an open stream waits as a greenlet instead of holding one of the API's request threads.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

from flask import Blueprint, Response, request
from flask_jwt_extended import jwt_required

from api.deps import caller_id, runtime
from shared.errors import NotFound
from shared.streams.feed import Stream, StreamEvent, open_event_stream, open_purchase_stream
from shared.streams.limits import StreamPlace

bp = Blueprint("streams", __name__, url_prefix="/api/v1")

# Tells EventSource clients how soon to reconnect after the stream ends, in milliseconds.
RETRY_MS = 2000


@bp.get("/purchases/<purchase_id>/stream")
@jwt_required()
def purchase(purchase_id: str) -> Response:
    """Stream one purchase: its current object, then each status change until it is final."""
    rt = _serving_streams()
    stream = open_purchase_stream(
        rt.db,
        rt.hub,
        _place(),
        purchase_id=purchase_id,
        user_id=caller_id(),
        last_event_id=request.headers.get("Last-Event-ID"),
        heartbeat=rt.settings.stream_heartbeat_s,
        limit=rt.settings.streams_per_user,
    )
    return _event_stream(stream)


@bp.get("/events/stream")
@jwt_required()
def events() -> Response:
    """Stream the caller's purchase events (the webhook bodies) as they happen."""
    rt = _serving_streams()
    stream = open_event_stream(
        rt.db,
        rt.hub,
        _place(),
        user_id=caller_id(),
        last_event_id=request.headers.get("Last-Event-ID"),
        heartbeat=rt.settings.stream_heartbeat_s,
        limit=rt.settings.streams_per_user,
    )
    return _event_stream(stream)


def _serving_streams():
    # Where a stream process is configured, the thread-per-request API refuses streams: each
    # would hold one of its threads for as long as the client likes.
    rt = runtime()
    monkey = sys.modules.get("gevent.monkey")
    green = monkey is not None and monkey.is_module_patched("socket")
    if rt.settings.stream_url and not green:
        raise NotFound(f"Live streams are served at {rt.settings.stream_url}.")
    return rt


def _place() -> StreamPlace:
    rt = runtime()
    return StreamPlace(rt.stream_redis, caller_id(), lifetime=3 * rt.settings.stream_heartbeat_s)


def _event_stream(stream: Stream) -> Response:
    response = Response(_frames(stream), mimetype="text/event-stream")
    response.call_on_close(stream.close)
    response.headers["Cache-Control"] = "no-store"
    # Proxies such as nginx would otherwise hold events back to fill a buffer.
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _frames(stream: Stream) -> Iterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    for event in stream:
        yield _frame(event)


def _frame(event: StreamEvent) -> str:
    if event.data is None:
        return ": heartbeat\n\n"
    lines = []
    if event.id is not None:
        lines.append(f"id: {event.id}")
    if event.event is not None:
        lines.append(f"event: {event.event}")
    lines.append("data: " + json.dumps(event.data, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"

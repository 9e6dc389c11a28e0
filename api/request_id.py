"""X-Request-ID: accepted when it is safe, generated otherwise, returned on every response and
bound into every log line of the request (and, through the task headers, of its tasks).

A caller's id is kept only when it is 1-128 characters of letters, digits and `.-_:`; anything
else (too long, spaces, control characters, quotes meant to break a log line) is replaced by a
fresh id rather than refused, so tracing never costs a caller their request.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

from shared import logs

HEADER = "X-Request-ID"
SAFE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_from(sent: str | None) -> str:
    """The caller's id when it is safe, else a new one."""
    if sent and SAFE.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


def init_request_ids(app: Flask) -> None:
    @app.before_request
    def bind_request_id() -> None:
        logs.clear()
        g.request_id = request_id_from(request.headers.get(HEADER))
        logs.bind(request_id=g.request_id)

    @app.after_request
    def return_request_id(response: Response) -> Response:
        # Errors raised before `before_request` (e.g. 404 routing is after it, 413 may not be)
        # still get an id.
        response.headers[HEADER] = g.get("request_id") or request_id_from(
            request.headers.get(HEADER)
        )
        return response

    @app.teardown_request
    def unbind(_exc: BaseException | None) -> None:
        logs.clear()

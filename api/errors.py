"""The one place error bodies are made: `{"error": {"code", "message", "fields"?}}`."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from flask_limiter import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from shared.errors import PayLinkError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: ("invalid_json", "The request body is not valid JSON."),
    401: ("token_missing", "Authentication is required."),
    403: ("forbidden", "You may not do this."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed here."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "Send JSON with Content-Type: application/json."),
    429: ("rate_limited", "Too many requests; slow down."),
}


def error_response(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> tuple[Response, int]:
    """Build the documented error body."""
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return jsonify({"error": error}), status


def register_error_handlers(app: Flask) -> None:
    """Answer every error, expected or not, in the documented shape."""

    @app.errorhandler(PayLinkError)
    def domain_error(e: PayLinkError) -> tuple[Response, int]:
        response, status = error_response(e.status, e.code, e.message, e.fields)
        if e.retry_after is not None:
            response.headers["Retry-After"] = str(e.retry_after)
        return response, status

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> tuple[Response, int]:
        status = e.code or 500
        code, message = HTTP_CODES.get(status, ("http_error", e.name))
        response, status = error_response(status, code, message)
        # 405 carries Allow (RFC 9110), 401 WWW-Authenticate, 429/503 Retry-After.
        headers = [*e.get_headers(), *(e.response.headers.items() if e.response else [])]
        for name, value in headers:
            if name in ("Retry-After", "Allow", "WWW-Authenticate"):
                response.headers[name] = value
        return response, status

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(e: RateLimitExceeded) -> tuple[Response, int]:
        response, status = error_response(
            429, "rate_limited", f"Too many requests ({e.description})."
        )
        # The window's length is when, at the latest, the client may try again.
        response.headers["Retry-After"] = str(e.limit.limit.get_expiry())
        return response, status

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side.")

"""CORS: which browser origins may call the API, from PAYLINK_CORS_ORIGINS (exact origins).

No origin is allowed by default; an origin not listed gets no `Access-Control-Allow-Origin`
header, so the browser refuses to hand the response to its page. Tokens travel in the
`Authorization` header, never in cookies, so credentials mode is off and no wildcard is used.
"""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

from shared.config import Settings

# What a browser page sends: the bearer token, JSON, the purchase's key, and where a live
# stream resumes from.
ALLOWED_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"]
# What a page may read: where the new purchase is, when to retry, whether the catalog was cached.
EXPOSED_HEADERS = ["Location", "Retry-After", "X-Cache"]


def init_cors(app: Flask, settings: Settings) -> None:
    """Answer preflights and add CORS headers for the configured origins only."""
    if not settings.cors_origins:
        return
    CORS(
        app,
        resources={r"/api/*": {"origins": list(settings.cors_origins)}},
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        methods=["GET", "POST", "DELETE"],
        supports_credentials=False,
        max_age=600,
        vary_header=True,
    )

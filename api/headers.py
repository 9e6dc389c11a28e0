"""Headers every answer carries: no MIME sniffing anywhere, no caching of private data.

Receipts hold electricity tokens and PINs, auth answers hold tokens, wallets hold balances:
no browser, proxy or CDN may keep a copy of those answers (errors included).
"""

from __future__ import annotations

from flask import Flask, Response, request

PRIVATE = frozenset(
    {"auth", "wallet", "purchases", "admin", "verifications", "webhook_endpoints", "events"}
)


def init_response_headers(app: Flask) -> None:
    """Add the security headers to every response."""

    @app.after_request
    def secure(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.blueprint in PRIVATE:
            response.headers["Cache-Control"] = "no-store"
        return response

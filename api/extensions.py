"""Flask extensions, created unbound and initialised in the app factory."""

from __future__ import annotations

from flask import current_app, request
from flask_jwt_extended import JWTManager, decode_token
from flask_limiter import Limiter

# Endpoints no client limit applies to: probes, scrapes, and VTPass's own callbacks.
UNLIMITED = {"health.healthz", "health.readyz", "metrics.expose", "vtpass_callback.receive"}
# Credential guessing is limited harder, per client address (there is no account yet).
AUTH = {"auth.login", "auth.register", "auth.refresh"}


def rate_limit_key() -> str:
    """Limit by account when the request carries a valid token, else by client address."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and request.endpoint not in AUTH:
        try:
            return "user:" + str(decode_token(header[7:])["sub"])
        except Exception:  # noqa: BLE001 - a bad token is refused later; count it by address
            pass
    return "ip:" + (request.remote_addr or "unknown")


def rate_limit() -> str:
    """The limit for this request's endpoint, from the running app's settings."""
    settings = current_app.extensions["paylink"].settings
    if request.endpoint in AUTH:
        return str(settings.rate_limit_auth)
    if request.endpoint == "purchases.create":
        return str(settings.rate_limit_purchases)
    return str(settings.rate_limit_default)


jwt = JWTManager()
# Each endpoint is counted on its own. A limiter that cannot reach Redis lets requests through:
# it protects the service, it never decides about money.
limiter = Limiter(
    rate_limit_key,
    default_limits=[rate_limit],
    default_limits_exempt_when=lambda: request.endpoint in UNLIMITED,
    # X-RateLimit-* headers cost a Redis read on every request; the 429 carries Retry-After.
    headers_enabled=False,
    swallow_errors=True,
    key_prefix="paylink",
)

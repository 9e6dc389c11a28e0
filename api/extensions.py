"""Flask extensions: the JWT manager (stateless, shared) and each app's own rate limiter.

Limits (flask-limiter, counted in Redis):
- every endpoint: per account when the request carries a valid token, else per client
  address; credential endpoints harder, per address (there is no account yet);
- login, besides: failed attempts per email, wherever they come from;
- verifications (a synchronous VTPass call that reveals customer names): tight, per account;
- redelivering one event: a cooldown per event.
An IPv6 client is one /64 (what one subscriber is usually given). When Redis cannot be reached
the limits are counted in this process's memory instead of being skipped.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import time
from collections.abc import Callable

from flask import Flask, Response, current_app, g, request
from flask_jwt_extended import JWTManager, decode_token
from flask_jwt_extended.config import config as jwt_config
from flask_limiter import Limiter

from shared.config import Settings

# Endpoints no client limit applies to: probes, scrapes, and VTPass's own callbacks.
UNLIMITED = {"health.healthz", "health.readyz", "metrics.expose", "vtpass_callback.receive"}
# Credential guessing is limited harder, per client address (there is no account yet).
AUTH = {"auth.login", "auth.register", "auth.refresh", "auth.change_password"}

# How many verified tokens each app remembers (then it starts over).
VERIFIED_TOKENS_MAX = 10_000


class RememberingJWTManager(JWTManager):
    """flask-jwt-extended's manager, remembering the claims of the tokens it has verified.

    Checking a token decodes it three times (PyJWT checks each character of every segment in
    Python) and verifies its signature, issuer and audience: profiled, half of a `GET /me`.
    A client sends one token for many requests, so each app remembers token -> claims of the
    tokens it verified and, for those, re-checks only the expiry (with the configured
    leeway); the key is the whole token, signature included, so a changed token is verified
    afresh. Revocation is never remembered: the blocklist is asked on every request.
    """

    def _decode_jwt_from_config(
        self, encoded_token: str, csrf_value: str | None = None, allow_expired: bool = False
    ) -> dict:
        if csrf_value or allow_expired:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        verified: dict[str, dict] = current_app.extensions.setdefault("paylink.verified_tokens", {})
        claims = verified.get(encoded_token)
        if claims is not None and time.time() < claims["exp"] + jwt_config.leeway:
            return dict(claims)
        # New, or expired since: verified in full (an expired token gets the library's error).
        claims = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        if isinstance(claims.get("exp"), int | float):
            if len(verified) >= VERIFIED_TOKENS_MAX:
                verified.clear()
            verified[encoded_token] = dict(claims)
        return claims


jwt = RememberingJWTManager()


def client_address() -> str:
    """Return who the client is for limits: its IPv4 address, or its IPv6 /64."""
    raw = request.remote_addr or "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


def _token_subject(token: str) -> str:
    # Verified once per token and app (RememberingJWTManager), then remembered.
    return str(decode_token(token)["sub"])


def rate_limit_key() -> str:
    """Limit by account when the request carries a valid token, else by client address.

    Every limit on a route asks for the key; the token is decoded once per request.
    """
    cached = g.get("rate_limit_key")
    if cached is not None:
        return str(cached)
    key = "ip:" + client_address()
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and request.endpoint not in AUTH:
        try:
            key = "user:" + _token_subject(header[7:])
        except Exception:  # noqa: BLE001 - a bad token is refused later; count it by address
            pass
    g.rate_limit_key = key
    return key


def login_email_key() -> str:
    """Key login attempts by the email they try (hashed: keys are not a list of addresses)."""
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, RecursionError):
        body = None
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str):
        return "email:-"
    normalised = email.strip().lower().encode("utf-8", "replace")
    return "email:" + hashlib.sha256(normalised).hexdigest()


def redelivery_key() -> str:
    """Key redeliveries by the caller and the event they repeat."""
    return f"{rate_limit_key()}:event:{(request.view_args or {}).get('event_id', '-')}"


def _settings() -> Settings:
    return current_app.extensions["paylink"].settings


def rate_limit() -> str:
    """The limit for this request's endpoint, from the running app's settings."""
    settings = _settings()
    if request.endpoint in AUTH:
        return str(settings.rate_limit_auth)
    if request.endpoint == "purchases.create":
        return str(settings.rate_limit_purchases)
    return str(settings.rate_limit_default)


def _failed_login(response: Response) -> bool:
    return response.status_code == 401


# endpoint -> (its extra limit from settings, what it counts by, which answers count)
EXTRA_LIMITS: dict[
    str, tuple[Callable[[], str], Callable[[], str], Callable[[Response], bool] | None]
] = {
    "auth.login": (lambda: _settings().rate_limit_login_email, login_email_key, _failed_login),
    "verifications.verify": (lambda: _settings().rate_limit_verifications, rate_limit_key, None),
    "events.redeliver": (lambda: _settings().rate_limit_redeliver, redelivery_key, None),
}


def init_limiter(app: Flask) -> Limiter:
    """Give the app its own limiter (own storage), with the extra limits on their views."""
    limiter = Limiter(
        rate_limit_key,
        app=app,
        default_limits=[rate_limit],
        default_limits_exempt_when=lambda: request.endpoint in UNLIMITED,
        # X-RateLimit-* headers cost a Redis read on every request; the 429 carries Retry-After.
        headers_enabled=False,
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        key_prefix="paylink",
    )
    for endpoint, (limit, key, counts) in EXTRA_LIMITS.items():
        view = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.limit(  # type: ignore[assignment]
            limit, key_func=key, deduct_when=counts, override_defaults=False
        )(view)
    return limiter

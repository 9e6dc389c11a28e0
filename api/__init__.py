"""The HTTP edge: the Flask app factory."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from shared.config import Settings, load_settings
from shared.runtime import Runtime

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the PayLink API (and its Celery app) from settings, or from the environment."""
    settings = settings or load_settings()
    settings.validate()
    if not settings.jwt_secret_key:
        log.warning("JWT_SECRET_KEY is not set; using a random key for this process only")
        settings = settings.with_overrides(jwt_secret_key=secrets.token_urlsafe(48))

    app = Flask("paylink", static_folder=None)
    app.config.update(
        JWT_SECRET_KEY=settings.jwt_secret_key,
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=settings.jwt_access_minutes),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(days=settings.jwt_refresh_days),
        JWT_TOKEN_LOCATION=["headers"],
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_STORAGE_OPTIONS={"socket_connect_timeout": 1, "socket_timeout": 1},
        JWT_ENCODE_ISSUER=settings.jwt_issuer,
        JWT_DECODE_ISSUER=settings.jwt_issuer,
        JWT_ENCODE_AUDIENCE=settings.jwt_audience,
        JWT_DECODE_AUDIENCE=settings.jwt_audience,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["paylink"] = Runtime(settings)

    from api.auth import configure_jwt
    from api.cors import init_cors
    from api.errors import register_error_handlers
    from api.extensions import init_limiter, jwt
    from api.headers import init_response_headers
    from api.metrics import init_metrics
    from api.request_id import init_request_ids
    from api.validation import init_input_guards
    from workers.celery_app import celery_init_app

    jwt.init_app(app)
    configure_jwt(jwt)
    init_request_ids(app)
    register_error_handlers(app)
    init_cors(app, settings)
    init_input_guards(app)
    init_response_headers(app)
    init_metrics(app, app.extensions["paylink"])
    celery_init_app(app, settings)

    from api import (
        admin,
        auth,
        catalog,
        events,
        health,
        metrics,
        openapi,
        pages,
        purchases,
        reconciliations,
        streams,
        verifications,
        vtpass_callback,
        wallet,
        webhooks,
    )

    for module in (
        auth,
        purchases,
        wallet,
        admin,
        reconciliations,
        catalog,
        verifications,
        vtpass_callback,
        health,
        webhooks,
        events,
        streams,
        metrics,
        openapi,
        pages,
    ):
        app.register_blueprint(module.bp)
    if settings.sandbox:
        # Free money and the storefront exist only against VTPass's sandbox.
        from api import sandbox

        app.register_blueprint(sandbox.bp)
    app.extensions["limiter"] = init_limiter(app)
    from shared import telemetry

    telemetry.instrument_app(app, settings, app.extensions["paylink"].db.engine)
    if settings.trusted_proxies:
        # Behind N proxies the client is the Nth address from the right of X-Forwarded-For.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    return app

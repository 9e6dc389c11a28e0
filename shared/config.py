"""Configuration read once from the environment, with typed helpers and masked secrets.

Every variable is documented in `.env.example`. The names in PRODUCT.md are fixed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

SECRET_FIELDS = frozenset(
    {
        "jwt_secret_key",
        "vtpass_api_key",
        "vtpass_public_key",
        "vtpass_secret_key",
        "vtpass_callback_token",
        "paylink_admin_password",
        "metrics_token",
    }
)
# PAYLINK_ENV must be one of these: a typo must not quietly skip production's checks.
ENVIRONMENTS = ("development", "production")

# Seconds between webhook attempts: 11 attempts over about a day (tests scale it down).
# Seconds before requery number 0, 1, 2, ... of a pending purchase; the last one repeats.
REQUERY_DELAYS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
WEBHOOK_RETRY_DELAYS = (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 28800.0)


# An exact browser origin: never "*", never a path (credentials and wildcards never mix).
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")
_TIME_OF_DAY = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


class ConfigError(RuntimeError):
    """The environment does not describe a runnable PayLink."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(value: str | None, default: int) -> int:
    return int(value) if value not in (None, "") else default


def _float(value: str | None, default: float) -> float:
    return float(value) if value not in (None, "") else default


def _strings(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _floats(value: str | None, default: tuple[float, ...]) -> tuple[float, ...]:
    if value in (None, ""):
        return default
    return tuple(float(part) for part in str(value).split(","))


# The least margin of the processing lease over the VTPass call deadline, in seconds.
MIN_PROCESSING_MARGIN_S = 1.0


@dataclass(frozen=True)
class Settings:
    """Everything PayLink reads from its environment."""

    env: str = "development"
    port: int = 8000
    database_url: str = ""
    redis_url: str = ""
    # The Celery broker: empty means `redis_url` (as before); may be an amqp:// RabbitMQ URL.
    celery_broker_url: str = ""
    vtpass_base_url: str = ""
    vtpass_api_key: str = field(default="", repr=False)
    vtpass_public_key: str = field(default="", repr=False)
    vtpass_secret_key: str = field(default="", repr=False)
    vtpass_mode: str = "sandbox"
    vtpass_connect_timeout: float = 5.0
    vtpass_read_timeout: float = 30.0
    # The wall-clock bound of one whole VTPass call (0: connect + read timeout).
    vtpass_call_deadline_s: float = 0.0
    vtpass_callback_token: str = field(default="", repr=False)
    jwt_secret_key: str = field(default="", repr=False)
    jwt_access_minutes: int = 15
    jwt_refresh_days: int = 30
    paylink_admin_email: str = ""
    paylink_admin_password: str = field(default="", repr=False)
    webhook_allow_private: bool = False
    webhook_retry_delays: tuple[float, ...] = WEBHOOK_RETRY_DELAYS
    catalog_cache_ttl: int = 600
    verification_cache_ttl: int = 120
    requery_deadline_hours: float = 24.0
    requery_delays: tuple[float, ...] = REQUERY_DELAYS
    queued_grace_s: float = 15.0
    publish_lease_s: float = 60.0
    not_found_grace_s: float = 60.0
    processing_margin_s: float = 30.0
    sweep_interval_s: float = 5.0
    worker_concurrency: int = 128
    max_request_bytes: int = 64 * 1024
    rate_limit_default: str = "600/minute"
    rate_limit_auth: str = "20/minute"
    rate_limit_purchases: str = "120/minute"
    # Browser origins allowed to call the API (exact `scheme://host[:port]`); none by default.
    cors_origins: tuple[str, ...] = ()
    # Where browsers open live-status streams (the stream process); empty: this same origin.
    stream_url: str = ""
    stream_heartbeat_s: float = 15.0
    streams_per_user: int = 5
    # Each is counted on its own, besides the limits above.
    rate_limit_login_email: str = "5/minute;30/hour"
    rate_limit_verifications: str = "10/minute"
    rate_limit_redeliver: str = "1/minute"
    webhook_attempt_deadline_s: float = 15.0
    webhook_max_in_flight_per_endpoint: int = 4
    webhook_max_in_flight_per_user: int = 8
    webhook_max_endpoints: int = 20
    metrics_token: str = field(default="", repr=False)
    metrics_interval_s: float = 15.0
    float_low: float = 50_000.0
    float_wait_s: float = 600.0
    float_poll_s: float = 60.0
    # Reconciliation (shared/reconcile/): VTPass requeries per second, the time of day (UTC,
    # HH:MM) the beat starts a run, and how far back it looks (over a day: runs overlap).
    reconcile_requests_per_s: float = 5.0
    reconcile_at_utc: str = "01:00"
    reconcile_window_h: float = 25.0
    # Purchases still delivered that became final this many days before a run's window are
    # asked again (a reversal at VTPass days later), with any an earlier run could not tell.
    reconcile_recheck_days: float = 7.0
    trusted_proxies: int = 0
    jwt_issuer: str = "paylink"
    jwt_audience: str = "paylink-api"
    # OpenTelemetry tracing (shared/telemetry.py): off unless set.
    otel_exporter_otlp_endpoint: str = ""

    @property
    def reconcile_time(self) -> tuple[int, int]:
        """The (hour, minute) UTC at which the beat starts the daily reconciliation."""
        hour, minute = self.reconcile_at_utc.split(":")
        return int(hour), int(minute)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def vtpass_deadline(self) -> float:
        """The wall-clock bound of one VTPass call: VTPASS_CALL_DEADLINE_S, else connect + read."""
        return self.vtpass_call_deadline_s or (
            self.vtpass_connect_timeout + self.vtpass_read_timeout
        )

    @property
    def broker_url(self) -> str:
        """Where Celery's messages go: `CELERY_BROKER_URL`, else Redis."""
        return self.celery_broker_url or self.redis_url

    @property
    def broker_is_amqp(self) -> bool:
        return self.broker_url.startswith(("amqp://", "amqps://", "pyamqp://"))

    @property
    def sandbox(self) -> bool:
        return self.vtpass_mode != "live"

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                value = "***"
            elif f.name in {"database_url", "redis_url", "celery_broker_url"} and value:
                value = mask_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with some values replaced (tests and standalone)."""
        return replace(self, **changes)

    def validate(self) -> None:
        """Refuse to run production without its secrets and services, or with unsafe settings."""
        if self.env not in ENVIRONMENTS:
            raise ConfigError(
                f"PAYLINK_ENV must be 'development' or 'production', not {self.env!r}"
            )
        if self.is_production and not self.vtpass_mode:
            raise ConfigError("VTPASS_MODE must be set to 'sandbox' or 'live' in production")
        if self.vtpass_mode not in {"sandbox", "live"}:
            raise ConfigError("VTPASS_MODE must be 'sandbox' or 'live'")
        if self.vtpass_call_deadline_s < 0 or self.processing_margin_s < MIN_PROCESSING_MARGIN_S:
            # The processing lease (deadline + margin) must outlast every VTPass call. It starts
            # once the purchase's row is taken (after any pool or lock wait); the margin covers
            # the commit and the call's start that still come before the deadline's clock runs.
            raise ConfigError(
                "VTPASS_CALL_DEADLINE_S must be >= 0 and PAYLINK_PROCESSING_MARGIN_S at least"
                f" {MIN_PROCESSING_MARGIN_S:g}"
            )
        for origin in self.cors_origins:
            if not _ORIGIN.fullmatch(origin):
                raise ConfigError(
                    f"PAYLINK_CORS_ORIGINS: {origin!r} is not an exact origin "
                    "(scheme://host[:port], no wildcard, no path)"
                )
        if not self.reconcile_requests_per_s > 0:
            raise ConfigError("PAYLINK_RECONCILE_REQUESTS_PER_S must be a number above 0")
        if not _TIME_OF_DAY.fullmatch(self.reconcile_at_utc):
            raise ConfigError("PAYLINK_RECONCILE_AT_UTC must be a time of day, HH:MM (UTC)")
        if not self.reconcile_window_h > 0:
            raise ConfigError("PAYLINK_RECONCILE_WINDOW_H must be a number of hours above 0")
        if not 0 <= self.reconcile_recheck_days <= 90:
            raise ConfigError("PAYLINK_RECONCILE_RECHECK_DAYS must be a number of days, 0 to 90")
        if not self.is_production:
            return
        missing = [
            name.upper()
            for name in (
                "database_url",
                "redis_url",
                "jwt_secret_key",
                "vtpass_base_url",
                "vtpass_api_key",
                "vtpass_public_key",
                "vtpass_secret_key",
                "vtpass_callback_token",
            )
            if not getattr(self, name)
        ]
        if not self.metrics_token:
            missing.append("PAYLINK_METRICS_TOKEN")
        if missing:
            raise ConfigError(f"production needs: {', '.join(missing)}")
        for name, value in (
            ("JWT_SECRET_KEY", self.jwt_secret_key),
            ("VTPASS_CALLBACK_TOKEN", self.vtpass_callback_token),
            ("PAYLINK_METRICS_TOKEN", self.metrics_token),
        ):
            if len(value) < 32:
                raise ConfigError(f"{name} must be at least 32 characters in production")
        if self.webhook_allow_private:
            raise ConfigError(
                "PAYLINK_WEBHOOK_ALLOW_PRIVATE=1 lets clients aim webhooks at internal "
                "addresses; it is refused in production"
            )


def mask_url(url: str) -> str:
    """Hide the password in a connection URL."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from the environment (once per process, by the caller)."""
    env = os.environ if environ is None else environ
    environment = env.get("PAYLINK_ENV", "development")
    # Production must say which VTPass it talks to; elsewhere the sandbox is the default.
    mode = env.get("VTPASS_MODE", "").strip() or ("" if environment == "production" else "sandbox")
    return Settings(
        env=environment,
        port=_int(env.get("PORT"), 8000),
        database_url=env.get("DATABASE_URL", ""),
        redis_url=env.get("REDIS_URL", ""),
        celery_broker_url=env.get("CELERY_BROKER_URL", ""),
        vtpass_base_url=env.get("VTPASS_BASE_URL", ""),
        vtpass_api_key=env.get("VTPASS_API_KEY", ""),
        vtpass_public_key=env.get("VTPASS_PUBLIC_KEY", ""),
        vtpass_secret_key=env.get("VTPASS_SECRET_KEY", ""),
        vtpass_mode=mode,
        vtpass_connect_timeout=_float(env.get("VTPASS_CONNECT_TIMEOUT"), 5.0),
        vtpass_read_timeout=_float(env.get("VTPASS_READ_TIMEOUT"), 30.0),
        vtpass_call_deadline_s=_float(env.get("VTPASS_CALL_DEADLINE_S"), 0.0),
        vtpass_callback_token=env.get("VTPASS_CALLBACK_TOKEN", ""),
        jwt_secret_key=env.get("JWT_SECRET_KEY", ""),
        jwt_access_minutes=_int(env.get("JWT_ACCESS_MINUTES"), 15),
        jwt_refresh_days=_int(env.get("JWT_REFRESH_DAYS"), 30),
        paylink_admin_email=env.get("PAYLINK_ADMIN_EMAIL", ""),
        paylink_admin_password=env.get("PAYLINK_ADMIN_PASSWORD", ""),
        webhook_allow_private=_bool(env.get("PAYLINK_WEBHOOK_ALLOW_PRIVATE")),
        webhook_retry_delays=_floats(env.get("PAYLINK_WEBHOOK_RETRY_DELAYS"), WEBHOOK_RETRY_DELAYS),
        catalog_cache_ttl=_int(env.get("PAYLINK_CATALOG_CACHE_TTL"), 600),
        verification_cache_ttl=_int(env.get("PAYLINK_VERIFICATION_CACHE_TTL"), 120),
        requery_deadline_hours=_float(env.get("PAYLINK_REQUERY_DEADLINE_HOURS"), 24.0),
        requery_delays=_floats(env.get("PAYLINK_REQUERY_DELAYS"), REQUERY_DELAYS),
        queued_grace_s=_float(env.get("PAYLINK_QUEUED_GRACE_S"), 15.0),
        publish_lease_s=_float(env.get("PAYLINK_PUBLISH_LEASE_S"), 60.0),
        not_found_grace_s=_float(env.get("PAYLINK_NOT_FOUND_GRACE_S"), 60.0),
        processing_margin_s=_float(env.get("PAYLINK_PROCESSING_MARGIN_S"), 30.0),
        sweep_interval_s=_float(env.get("PAYLINK_SWEEP_INTERVAL_S"), 5.0),
        worker_concurrency=_int(env.get("PAYLINK_WORKER_CONCURRENCY"), 128),
        rate_limit_default=env.get("PAYLINK_RATE_LIMIT_DEFAULT") or "600/minute",
        rate_limit_auth=env.get("PAYLINK_RATE_LIMIT_AUTH") or "20/minute",
        rate_limit_purchases=env.get("PAYLINK_RATE_LIMIT_PURCHASES") or "120/minute",
        cors_origins=_strings(env.get("PAYLINK_CORS_ORIGINS")),
        stream_url=(env.get("PAYLINK_STREAM_URL") or "").rstrip("/"),
        stream_heartbeat_s=_float(env.get("PAYLINK_STREAM_HEARTBEAT_S"), 15.0),
        streams_per_user=_int(env.get("PAYLINK_STREAMS_PER_USER"), 5),
        rate_limit_login_email=env.get("PAYLINK_RATE_LIMIT_LOGIN_EMAIL") or "5/minute;30/hour",
        rate_limit_verifications=env.get("PAYLINK_RATE_LIMIT_VERIFICATIONS") or "10/minute",
        rate_limit_redeliver=env.get("PAYLINK_RATE_LIMIT_REDELIVER") or "1/minute",
        webhook_attempt_deadline_s=_float(env.get("PAYLINK_WEBHOOK_ATTEMPT_DEADLINE_S"), 15.0),
        webhook_max_in_flight_per_endpoint=_int(
            env.get("PAYLINK_WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT"), 4
        ),
        webhook_max_in_flight_per_user=_int(env.get("PAYLINK_WEBHOOK_MAX_IN_FLIGHT_PER_USER"), 8),
        webhook_max_endpoints=_int(env.get("PAYLINK_WEBHOOK_MAX_ENDPOINTS"), 20),
        metrics_token=env.get("PAYLINK_METRICS_TOKEN", ""),
        metrics_interval_s=_float(env.get("PAYLINK_METRICS_INTERVAL_S"), 15.0),
        float_low=_float(env.get("PAYLINK_FLOAT_LOW"), 50_000.0),
        float_wait_s=_float(env.get("PAYLINK_FLOAT_WAIT_S"), 600.0),
        float_poll_s=_float(env.get("PAYLINK_FLOAT_POLL_S"), 60.0),
        reconcile_requests_per_s=_float(env.get("PAYLINK_RECONCILE_REQUESTS_PER_S"), 5.0),
        reconcile_at_utc=env.get("PAYLINK_RECONCILE_AT_UTC") or "01:00",
        reconcile_window_h=_float(env.get("PAYLINK_RECONCILE_WINDOW_H"), 25.0),
        reconcile_recheck_days=_float(env.get("PAYLINK_RECONCILE_RECHECK_DAYS"), 7.0),
        trusted_proxies=_int(env.get("PAYLINK_TRUSTED_PROXIES"), 0),
        jwt_issuer=env.get("PAYLINK_JWT_ISSUER") or "paylink",
        jwt_audience=env.get("PAYLINK_JWT_AUDIENCE") or "paylink-api",
        otel_exporter_otlp_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip(),
    )

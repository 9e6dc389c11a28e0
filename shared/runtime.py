"""The process-wide things every edge needs: settings, database, Redis and the VTPass client."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

import redis
from redis import Redis

from shared.cache import ResponseCache
from shared.catalog import Catalog
from shared.config import Settings
from shared.db import Database
from shared.purchases.execution import Timing
from shared.streams.hub import Hub
from shared.streams.publish import install_publisher
from shared.verification import Verifier
from shared.vtpass import VTPassClient
from shared.webhooks.delivery import attempt_budget
from shared.webhooks.slots import DeliverySlots


@dataclass
class Runtime:
    """Built once per process by the app factory; sessions and clients are reused from here."""

    settings: Settings
    db: Database = field(init=False)

    def __post_init__(self) -> None:
        # Every worker thread may be recording a VTPass answer at once: the pool holds as many
        # connections as the worker has threads, so none waits for one (they open on demand).
        self.db = Database(
            self.settings.database_url,
            pool_size=10,
            max_overflow=max(20, self.settings.worker_concurrency - 10),
        )
        install_publisher(self.db.sessions, lambda: self.stream_redis)

    @cached_property
    def redis(self) -> redis.Redis:
        # A blocking pool: under the stream process's gevent worker hundreds of greenlets may
        # want a connection at once, and they should wait for one rather than fail.
        pool = redis.BlockingConnectionPool.from_url(
            self.settings.redis_url,
            max_connections=100,
            timeout=5,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
            decode_responses=True,
        )
        return redis.Redis(connection_pool=pool)

    @cached_property
    def stream_redis(self) -> Redis:
        # Short timeouts: a publish after commit must never hold up the worker or request
        # that committed, and an unreachable Redis only ends the live streams.
        pool = redis.BlockingConnectionPool.from_url(
            self.settings.redis_url,
            max_connections=50,
            timeout=2,
            socket_connect_timeout=0.5,
            socket_timeout=1,
            health_check_interval=10,
        )
        return Redis(connection_pool=pool)

    @cached_property
    def hub(self) -> Hub:
        return Hub(lambda: self.stream_redis)

    @cached_property
    def vtpass(self) -> VTPassClient:
        s = self.settings
        return VTPassClient(
            base_url=s.vtpass_base_url,
            api_key=s.vtpass_api_key,
            public_key=s.vtpass_public_key,
            secret_key=s.vtpass_secret_key,
            connect_timeout=s.vtpass_connect_timeout,
            read_timeout=s.vtpass_read_timeout,
            deadline=s.vtpass_deadline,
            # Every worker thread may be in a VTPass call at once; each keeps its connection.
            connections=max(10, s.worker_concurrency),
        )

    @cached_property
    def cache(self) -> ResponseCache:
        return ResponseCache(self.redis)

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.cache, self.vtpass, ttl=self.settings.catalog_cache_ttl)

    @cached_property
    def verifier(self) -> Verifier:
        return Verifier(self.cache, self.vtpass, ttl=self.settings.verification_cache_ttl)

    @cached_property
    def delivery_slots(self) -> DeliverySlots:
        s = self.settings
        return DeliverySlots(
            self.redis,
            per_endpoint=s.webhook_max_in_flight_per_endpoint,
            per_user=s.webhook_max_in_flight_per_user,
            hold_seconds=attempt_budget(s).total_seconds(),
        )

    @cached_property
    def timing(self) -> Timing:
        s = self.settings
        # A pay call ends (and can no longer send, direct or through an HTTP(S) proxy; never
        # "never sent" through one) by its wall-clock deadline; lease a margin more, so the
        # sweeper never moves a purchase whose pay may still leave.
        call = s.vtpass_deadline + s.processing_margin_s
        return Timing(
            queued_grace=timedelta(seconds=s.queued_grace_s),
            publish_lease=timedelta(seconds=s.publish_lease_s),
            processing_lease=timedelta(seconds=call),
            # A 015 is trusted only once a pay still in flight would have ended: never sooner
            # than the processing lease, whatever PAYLINK_NOT_FOUND_GRACE_S says.
            not_found_grace=timedelta(seconds=max(s.not_found_grace_s, call)),
            requery_delays=s.requery_delays,
            requery_deadline=timedelta(hours=s.requery_deadline_hours),
            float_wait=timedelta(seconds=s.float_wait_s),
        )

    def close(self) -> None:
        """Release pooled connections."""
        self.db.dispose()

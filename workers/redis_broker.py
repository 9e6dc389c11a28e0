"""One Redis client per kombu channel, instead of a new one for every publish and ack.

kombu's Redis channel builds a fresh `redis.Redis` around its connection pool for each
publish, each delivery's unacked bookkeeping and each ack (`Channel.conn_or_acquire`).
Building one is not free in redis-py 8 (it copies its response-callback table): profiled under
load, it was a fifth of the Celery worker's event loop and of the API's publish. A
`redis.Redis` is thread-safe and borrows a pooled connection per command, so one per channel
does the same work; it is rebuilt whenever the channel replaces its pool (after an error).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis

_CLIENT = "_paylink_sync_client"


@contextmanager
def _reused_client(channel: Any, client: Any = None) -> Iterator[Any]:
    if client:
        yield client
        return
    cached = channel.__dict__.get(_CLIENT)
    if cached is None or cached.connection_pool is not channel.pool:
        cached = channel.__dict__[_CLIENT] = channel._create_client()
    yield cached


def reuse_channel_clients() -> None:
    """Make kombu's Redis channels reuse one client each (idempotent)."""
    kombu_redis.Channel.conn_or_acquire = _reused_client  # type: ignore[method-assign,assignment]

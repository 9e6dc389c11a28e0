"""How many live streams one user may hold open, counted in Redis across every process.

Each open stream is a member of the user's sorted set, scored with the time it lapses; a
heartbeat pushes that time on, so the streams of a process that died stop counting soon.
"""

from __future__ import annotations

import secrets
import time

import redis

from shared.errors import TooManyRequests
from shared.streams.hub import StreamsUnavailable

# Drop lapsed streams, then take a place if one is free; atomic, so two opens never both win.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class TooManyStreams(TooManyRequests):
    """The user already holds the most streams allowed."""

    message = "Too many live streams open; close one first."


class StreamPlace:
    """One open stream's place in its user's count."""

    def __init__(self, client: redis.Redis, user_id: str, lifetime: float) -> None:
        self.client, self.key, self.lifetime = client, f"paylink:streams:{user_id}", lifetime
        self.token = secrets.token_hex(8)

    def take(self, limit: int) -> None:
        """Count this stream, or raise TooManyStreams / StreamsUnavailable."""
        now = time.time()
        try:
            taken = self.client.eval(
                _TAKE, 1, self.key, now, limit, now + self.lifetime, self.token,
                int(self.lifetime) + 60,
            )  # fmt: skip
        except redis.RedisError as e:
            raise StreamsUnavailable() from e
        if not taken:
            raise TooManyStreams()

    def renew(self) -> None:
        """Keep counting this stream (at each heartbeat)."""
        try:
            self.client.zadd(self.key, {self.token: time.time() + self.lifetime}, xx=True)
        except redis.RedisError:
            pass  # the hub notices a lost Redis and ends the stream

    def release(self) -> None:
        """Stop counting this stream."""
        try:
            self.client.zrem(self.key, self.token)
        except redis.RedisError:
            pass  # it lapses on its own

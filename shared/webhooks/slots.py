"""How many attempts may be in flight at once per endpoint and per user (Redis semaphores).

The webhooks worker has a fixed number of threads. Without a limit, one user with many slow
endpoints and many events holds all of them and everyone else's webhooks wait. Each attempt
takes a slot in its endpoint's and its user's semaphore (a Redis sorted set of holders scored
by when their hold expires) before it is sent; a delivery that finds either full is put back
a moment later without counting an attempt. A hold expires by itself after the attempt's
deadline and a margin, so a worker killed mid-attempt frees its slots.

Redis is a hint here: when it cannot be reached attempts go ahead unlimited (each is still
bounded by its deadline), since refusing them would stop every webhook, not just the abuser's.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

import redis

log = logging.getLogger(__name__)

PREFIX = "paylink:webhook-slots:"

# KEYS: the semaphores; ARGV: now, hold expiry, token, then each semaphore's size.
_ACQUIRE = """
local now, expires, token = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for i, key in ipairs(KEYS) do
  redis.call('zremrangebyscore', key, '-inf', now)
  if redis.call('zcard', key) >= tonumber(ARGV[3 + i]) then return 0 end
end
for _, key in ipairs(KEYS) do
  redis.call('zadd', key, expires, token)
  redis.call('expireat', key, math.ceil(expires))
end
return 1
"""


@dataclass(frozen=True)
class Slot:
    """A held place in an endpoint's and a user's semaphore (token None: Redis was down)."""

    keys: tuple[str, ...]
    token: str | None


class DeliverySlots:
    """Limit concurrent attempts per endpoint and per user."""

    def __init__(
        self, client: redis.Redis, *, per_endpoint: int, per_user: int, hold_seconds: float
    ) -> None:
        self.redis = client
        self.per_endpoint = per_endpoint
        self.per_user = per_user
        self.hold_seconds = hold_seconds
        self._acquire = client.register_script(_ACQUIRE)

    def acquire(self, *, endpoint_id: str, user_id: str) -> Slot | None:
        """Take a slot for one attempt, or return None when the endpoint or user is at its limit."""
        keys = (PREFIX + "endpoint:" + endpoint_id, PREFIX + "user:" + user_id)
        token = secrets.token_hex(8)
        now = time.time()
        try:
            taken = self._acquire(
                keys=list(keys),
                args=[now, now + self.hold_seconds, token, self.per_endpoint, self.per_user],
            )
        except redis.RedisError:
            log.warning("webhook slots unavailable; sending without a concurrency limit")
            return Slot(keys, None)
        return Slot(keys, token) if taken else None

    def release(self, slot: Slot) -> None:
        """Give a slot back (it also expires by itself)."""
        if slot.token is None:
            return
        try:
            pipe = self.redis.pipeline()
            for key in slot.keys:
                pipe.zrem(key, slot.token)
            pipe.execute()
        except redis.RedisError:
            log.warning("could not release a webhook slot; it expires by itself")

"""A Redis response cache for VTPass answers: TTL, single flight, and stale-on-error.

Each entry is JSON `{"fresh_until": <epoch>, "data": ...}` kept in Redis well past its TTL, so
that when VTPass fails an expired copy can still be served (marked STALE). When many callers
miss the same key at once, one takes a short Redis lock and asks VTPass; the rest wait for its
answer instead of asking too (single flight). A fresh entry is also kept in process memory
for a couple of seconds, so a hot key costs no Redis round trip at all; that copy is an LRU
of bounded size with a TTL, since keys include client input (customer numbers to verify).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import redis
from cachetools import TTLCache

log = logging.getLogger(__name__)

STALE_KEEP_FACTOR = 48  # keep copies this many TTLs for stale serving
LOCK_SECONDS = 15
WAIT_SECONDS = 10.0
LOCAL_ENTRIES = 1024


class CacheState(StrEnum):
    HIT = "HIT"
    MISS = "MISS"
    STALE = "STALE"


_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class ResponseCache:
    """Cache whatever `fetch` returns (JSON-able) under `key` for `ttl` seconds."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "paylink:cache:",
        local_ttl: float = 2.0,
        local_entries: int = LOCAL_ENTRIES,
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.local_ttl = local_ttl
        # key -> (keep until, data): at most `local_entries`, none older than `local_ttl`.
        self._local: TTLCache[str, tuple[float, Any]] = TTLCache(local_entries, local_ttl)
        self._local_lock = threading.Lock()  # cachetools' caches are not thread-safe

    def get_or_fetch(
        self, key: str, fetch: Callable[[], Any], *, ttl: int
    ) -> tuple[Any, CacheState]:
        """Return the cached value or fetch it once; serve a stale copy if fetching fails."""
        full = self.prefix + key
        now = time.time()
        with self._local_lock:
            local = self._local.get(full)
        if local is not None and local[0] > now:
            return local[1], CacheState.HIT
        try:
            return self._through_redis(full, fetch, ttl)
        except redis.RedisError:
            # The cache is an optimisation: without Redis, ask VTPass (nothing was fetched yet,
            # since every Redis call after a fetch tolerates failure).
            log.warning("cache unavailable; asking VTPass directly", extra={"key": key})
            return fetch(), CacheState.MISS

    def _through_redis(
        self, full: str, fetch: Callable[[], Any], ttl: int
    ) -> tuple[Any, CacheState]:
        entry = self._read(full)
        if entry is not None and entry["fresh_until"] > time.time():
            self._remember(full, entry)
            return entry["data"], CacheState.HIT
        token = secrets.token_hex(8)
        if self.redis.set(full + ":lock", token, nx=True, ex=LOCK_SECONDS):
            try:
                # The previous holder may have stored a fresh copy just before we locked.
                latest = self._read(full)
                if latest is not None and latest["fresh_until"] > time.time():
                    return latest["data"], CacheState.HIT
                return self._refresh(full, fetch, ttl, stale=latest or entry)
            finally:
                with contextlib.suppress(redis.RedisError):
                    self.redis.eval(_RELEASE, 1, full + ":lock", token)  # else it expires
        return self._await_refresh(full, fetch, ttl, stale=entry)

    def invalidate(self, key: str) -> None:
        """Forget a cached value (other processes keep theirs for at most `local_ttl`)."""
        with self._local_lock:
            self._local.pop(self.prefix + key, None)
        self.redis.delete(self.prefix + key)

    def _remember(self, full: str, entry: dict[str, Any]) -> None:
        keep_until = min(time.time() + self.local_ttl, entry["fresh_until"])
        with self._local_lock:
            self._local[full] = (keep_until, entry["data"])

    def _read(self, full: str) -> dict[str, Any] | None:
        raw = self.redis.get(full)
        return json.loads(raw) if raw else None

    def _refresh(
        self, full: str, fetch: Callable[[], Any], ttl: int, *, stale: dict[str, Any] | None
    ) -> tuple[Any, CacheState]:
        try:
            data = fetch()
        except Exception:
            if stale is not None:
                log.warning("VTPass failed; serving a stale copy", extra={"key": full})
                return stale["data"], CacheState.STALE
            raise
        entry = {"fresh_until": time.time() + ttl, "data": data}
        try:
            self.redis.set(full, json.dumps(entry), ex=ttl * STALE_KEEP_FACTOR)
        except redis.RedisError:
            log.warning("could not store a VTPass answer in the cache", extra={"key": full})
        self._remember(full, entry)
        return data, CacheState.MISS

    def _await_refresh(
        self, full: str, fetch: Callable[[], Any], ttl: int, *, stale: dict[str, Any] | None
    ) -> tuple[Any, CacheState]:
        # Another caller holds the lock and is asking VTPass: wait for its answer.
        deadline = time.monotonic() + WAIT_SECONDS
        delay = 0.005
        while time.monotonic() < deadline:
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
            entry = self._read(full)
            if entry is not None and entry["fresh_until"] > time.time():
                return entry["data"], CacheState.HIT
            if not self.redis.exists(full + ":lock"):
                break
        entry = self._read(full)
        if entry is not None and entry["fresh_until"] > time.time():
            return entry["data"], CacheState.HIT
        if stale is not None:
            return stale["data"], CacheState.STALE
        return self._refresh(full, fetch, ttl, stale=None)

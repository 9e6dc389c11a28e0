"""The VTPass response cache on real Redis: hit, single flight, stale on upstream failure."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from shared.cache import CacheState, ResponseCache


@pytest.fixture
def cache(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return ResponseCache(client, prefix=f"test:{uuid.uuid4().hex}:", local_ttl=0)


def test_miss_then_hit(cache):
    calls = []

    def fetch():
        calls.append(1)
        return {"plans": [1, 2]}

    assert cache.get_or_fetch("k", fetch, ttl=60) == ({"plans": [1, 2]}, CacheState.MISS)
    assert cache.get_or_fetch("k", fetch, ttl=60) == ({"plans": [1, 2]}, CacheState.HIT)
    assert len(calls) == 1


def test_many_concurrent_misses_make_one_upstream_call(cache):
    calls = 0
    lock = threading.Lock()
    release = threading.Event()

    def slow_fetch():
        nonlocal calls
        with lock:
            calls += 1
        release.wait(5)
        return ["answer"]

    with ThreadPoolExecutor(max_workers=40) as pool:
        futures = [pool.submit(cache.get_or_fetch, "same", slow_fetch, ttl=60) for _ in range(40)]
        # Let every caller arrive while the first fetch is still in flight.
        deadline = time.monotonic() + 5
        while calls == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        results = [f.result(timeout=15) for f in futures]
    assert calls == 1
    assert all(data == ["answer"] for data, _ in results)
    assert sum(state is CacheState.MISS for _, state in results) == 1


def test_expired_copy_is_served_stale_when_upstream_fails(cache):
    cache.get_or_fetch("k", lambda: ["old"], ttl=60)
    # Age the entry past its TTL without waiting.
    key = cache.prefix + "k"
    entry = cache.redis.get(key).replace('"fresh_until": ', '"fresh_until": -1, "was": ')
    cache.redis.set(key, entry)

    def failing():
        raise ConnectionError("VTPass is down")

    assert cache.get_or_fetch("k", failing, ttl=60) == (["old"], CacheState.STALE)
    assert cache.get_or_fetch("k", lambda: ["new"], ttl=60) == (["new"], CacheState.MISS)


def test_upstream_failure_without_any_copy_raises(cache):
    def failing():
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        cache.get_or_fetch("nothing", failing, ttl=60)


def test_hot_keys_are_served_from_process_memory(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    cache = ResponseCache(client, prefix=f"test:{uuid.uuid4().hex}:", local_ttl=60)
    cache.get_or_fetch("k", lambda: ["v"], ttl=60)
    client.delete(cache.prefix + "k")  # Redis forgot it; this process still remembers
    assert cache.get_or_fetch("k", lambda: ["other"], ttl=60) == (["v"], CacheState.HIT)
    cache.invalidate("k")
    assert cache.get_or_fetch("k", lambda: ["other"], ttl=60) == (["other"], CacheState.MISS)


def test_redis_down_falls_back_to_asking_upstream():
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    cache = ResponseCache(dead)
    assert cache.get_or_fetch("k", lambda: [1], ttl=60) == ([1], CacheState.MISS)


def test_redis_failing_after_the_fetch_still_answers_once(cache, monkeypatch):
    calls = []

    def fetch():
        calls.append(1)
        return ["fresh"]

    def full(*args, **kwargs):
        raise redis.ResponseError("OOM command not allowed when used memory > 'maxmemory'")

    monkeypatch.setattr(cache.redis, "set", _only_for_plain_set(cache.redis.set, full))
    assert cache.get_or_fetch("k", fetch, ttl=60) == (["fresh"], CacheState.MISS)
    assert len(calls) == 1


def _only_for_plain_set(real, failing):
    # The lock is taken with set(nx=True); the value is stored with a plain set.
    def set_(*args, **kwargs):
        return real(*args, **kwargs) if kwargs.get("nx") else failing()

    return set_

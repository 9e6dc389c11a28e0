"""kombu's Redis channel reuses one client for publishes and acks, on the real broker."""

from __future__ import annotations

from kombu import Connection

from workers.redis_broker import reuse_channel_clients


def test_a_channel_reuses_its_client_until_its_pool_changes(redis_url):
    reuse_channel_clients()
    with Connection(redis_url) as conn:
        channel = conn.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.ping()
        given = object()
        with channel.conn_or_acquire(given) as passed:
            assert passed is given
        channel._pool = None  # as after a connection error: a new pool, so a new client
        with channel.conn_or_acquire() as third:
            assert third is not first and third.connection_pool is channel.pool


def test_messages_still_go_through(redis_url):
    reuse_channel_clients()
    with Connection(redis_url) as conn:
        queue = conn.SimpleQueue(f"paylink-test-{id(conn)}")
        for n in range(3):
            queue.put({"n": n})
        got = [queue.get(timeout=5) for _ in range(3)]
        for message in got:
            message.ack()
        assert [m.payload["n"] for m in got] == [0, 1, 2]
        queue.clear()
        queue.close()

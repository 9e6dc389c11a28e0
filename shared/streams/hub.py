"""One Redis pub/sub connection per process, fanned out to every stream open in it.

Each stream subscribes to a channel and waits on its own queue; a message on that channel
wakes it. When the connection to Redis is lost, every current subscription is told so and
its stream ends (the client reconnects with Last-Event-ID); the next subscription connects
again. Under gevent the reader thread and the queues are green, so a waiting stream costs a
greenlet, not an OS thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from enum import Enum

import redis

from shared.errors import ServiceUnavailable
from shared.streams.publish import PATTERN

log = logging.getLogger(__name__)


class Signal(Enum):
    CHANGED = "changed"  # a message arrived: read PostgreSQL again
    QUIET = "quiet"  # nothing within the wait: time for a heartbeat
    LOST = "lost"  # Redis went away: end the stream


class StreamsUnavailable(ServiceUnavailable):
    """Redis cannot be reached, so no live stream can be opened now."""

    message = "Live status is unavailable right now; poll GET /api/v1/purchases/<id>."
    retry_after = 5


class Subscription:
    """One stream's place in the hub: wait on it, close it when the stream ends."""

    def __init__(self, hub: Hub, channel: str) -> None:
        self.hub, self.channel = hub, channel
        self._signals: queue.Queue[Signal] = queue.Queue()

    def notify(self, signal: Signal) -> None:
        self._signals.put(signal)

    def wait(self, timeout: float) -> Signal:
        """Block until a message or the loss of Redis, or `timeout` seconds; say which."""
        try:
            signal = self._signals.get(timeout=timeout)
        except queue.Empty:
            return Signal.QUIET
        # Several messages that queued up meanwhile need only one look at PostgreSQL.
        while signal is Signal.CHANGED:
            try:
                signal = self._signals.get_nowait()
            except queue.Empty:
                break
        return signal

    def close(self) -> None:
        """Stop receiving (the stream has ended)."""
        self.hub.unsubscribe(self)


class Hub:
    """The process's pub/sub listener and its subscriptions, by channel."""

    def __init__(self, client: Callable[[], redis.Redis]) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._pubsub: redis.client.PubSub | None = None

    def subscribe(self, channel: str) -> Subscription:
        """Start receiving `channel`'s messages; raise StreamsUnavailable if Redis is down."""
        subscription = Subscription(self, channel)
        with self._lock:
            if self._pubsub is None:
                self._pubsub = self._connect()
            self._subscriptions.setdefault(channel, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a subscription."""
        with self._lock:
            found = self._subscriptions.get(subscription.channel)
            if found is not None:
                found.discard(subscription)
                if not found:
                    del self._subscriptions[subscription.channel]

    def open_streams(self) -> int:
        """How many subscriptions this process holds."""
        with self._lock:
            return sum(len(s) for s in self._subscriptions.values())

    def _connect(self) -> redis.client.PubSub:
        pubsub = self._client().pubsub()
        try:
            pubsub.psubscribe(PATTERN)
            # Wait for Redis to confirm, so a change committed after this returns is heard.
            confirmed = pubsub.get_message(timeout=2.0)
        except (redis.RedisError, OSError) as e:
            pubsub.close()
            raise StreamsUnavailable() from e
        if not confirmed or confirmed.get("type") != "psubscribe":
            pubsub.close()
            raise StreamsUnavailable()
        threading.Thread(target=self._listen, args=(pubsub,), daemon=True).start()
        return pubsub

    def _listen(self, pubsub: redis.client.PubSub) -> None:
        try:
            while True:
                message = pubsub.get_message(timeout=5.0)
                if message and message.get("type") == "pmessage":
                    channel = message["channel"]
                    if isinstance(channel, bytes):
                        channel = channel.decode()
                    self._dispatch(channel, Signal.CHANGED)
        except Exception:  # noqa: BLE001 - any failure of the connection ends its streams
            log.warning("lost the live-stream connection to Redis; open streams end")
        finally:
            self._lose(pubsub)

    def _dispatch(self, channel: str, signal: Signal) -> None:
        with self._lock:
            targets = list(self._subscriptions.get(channel, ()))
        for subscription in targets:
            subscription.notify(signal)

    def _lose(self, pubsub: redis.client.PubSub) -> None:
        with self._lock:
            if self._pubsub is pubsub:
                self._pubsub = None
            lost = [s for found in self._subscriptions.values() for s in found]
            self._subscriptions.clear()
        for subscription in lost:
            subscription.notify(Signal.LOST)
        try:
            pubsub.close()
        except Exception:  # noqa: BLE001 - the connection is already gone
            pass

"""The live streams: one purchase's status changes, or all of one user's purchase events.

A stream is opened eagerly (ownership, the user's stream count, the pub/sub subscription all
checked before the first byte, so refusals are proper errors) and then followed lazily. Every
wake-up, whether a message or a quiet heartbeat, reads PostgreSQL for what came after the
last event sent: the event ids are history row ids (one purchase's changes commit in id order,
under its row lock) and per-user event numbers (`events.seq`, taken under the user's row lock).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from shared.db import Database
from shared.errors import NotFound, ValidationFailed
from shared.models import Event, Purchase, User
from shared.purchases.views import purchase_object
from shared.streams.hub import Hub, Signal, Subscription
from shared.streams.limits import StreamPlace
from shared.streams.publish import purchase_channel, user_channel

FINAL = frozenset({"delivered", "failed", "reversed"})


@dataclass(frozen=True)
class StreamEvent:
    """One server-sent event; no `event` and no `data` is a heartbeat."""

    id: str | None = None
    event: str | None = None
    data: dict[str, Any] | None = None


HEARTBEAT = StreamEvent()


class Stream:
    """An opened stream: iterate it for events; `close()` frees its place whatever happened."""

    def __init__(
        self, events: Iterator[StreamEvent], subscription: Subscription, place: StreamPlace
    ) -> None:
        self._events, self._subscription, self._place = events, subscription, place
        self._closed = False

    def __iter__(self) -> Iterator[StreamEvent]:
        try:
            yield from self._events
        finally:
            self.close()

    def close(self) -> None:
        """Unsubscribe and release the user's stream place (once)."""
        if not self._closed:
            self._closed = True
            self._subscription.close()
            self._place.release()


def _start(hub: Hub, place: StreamPlace, channel: str, limit: int) -> Subscription:
    # Count the stream, then subscribe; both before the stream's first read of PostgreSQL, so
    # a change committed in between is still heard.
    place.take(limit)
    try:
        return hub.subscribe(channel)
    except Exception:
        place.release()
        raise


def _pause(
    subscription: Subscription, place: StreamPlace, heartbeat: float
) -> Generator[StreamEvent, None, bool]:
    # Wait for a change or a heartbeat's time; say whether the stream goes on.
    signal = subscription.wait(heartbeat)
    if signal is Signal.QUIET:
        place.renew()
        yield HEARTBEAT
    return signal is not Signal.LOST


def open_purchase_stream(
    db: Database,
    hub: Hub,
    place: StreamPlace,
    *,
    purchase_id: str,
    user_id: str,
    last_event_id: str | None,
    heartbeat: float,
    limit: int,
) -> Stream:
    """Open the stream of one of the user's purchases, resuming after `last_event_id`."""
    resume_after = _history_cursor(last_event_id)
    with db.sessions() as session:
        purchase = session.get(Purchase, purchase_id)
        if purchase is None or purchase.user_id != user_id:
            raise NotFound("No such purchase.")
    subscription = _start(hub, place, purchase_channel(purchase_id), limit)
    events = _follow_purchase(db, subscription, place, purchase_id, resume_after, heartbeat)
    return Stream(events, subscription, place)


def _history_cursor(last_event_id: str | None) -> int | None:
    if last_event_id is None or last_event_id == "":
        return None
    if not (last_event_id.isascii() and last_event_id.isdigit()) or len(last_event_id) > 18:
        raise ValidationFailed(fields={"Last-Event-ID": "not an event id of this stream"})
    return int(last_event_id)


def _follow_purchase(
    db: Database,
    subscription: Subscription,
    place: StreamPlace,
    purchase_id: str,
    after: int | None,
    heartbeat: float,
) -> Iterator[StreamEvent]:
    if after is None:
        current, history_ids = _read_purchase(db, purchase_id)
        after = max(history_ids, default=0)
        yield StreamEvent(id=str(after), event="purchase", data=current)
        if current["status"] in FINAL:
            return
    while True:
        current, history_ids = _read_purchase(db, purchase_id)
        for entry, entry_id in zip(current["history"], history_ids, strict=True):
            if entry_id > after:
                after = entry_id
                yield StreamEvent(
                    id=str(entry_id), event="status", data={**entry, "purchase": current}
                )
        if current["status"] in FINAL:
            return
        if not (yield from _pause(subscription, place, heartbeat)):
            return


def _read_purchase(db: Database, purchase_id: str) -> tuple[dict[str, Any], list[int]]:
    with db.sessions() as session:
        purchase = session.get(Purchase, purchase_id)
        if purchase is None:
            raise NotFound("No such purchase.")
        return purchase_object(purchase), [h.id for h in purchase.history]


def open_event_stream(
    db: Database,
    hub: Hub,
    place: StreamPlace,
    *,
    user_id: str,
    last_event_id: str | None,
    heartbeat: float,
    limit: int,
) -> Stream:
    """Open the stream of all the user's purchase events, from now or after `last_event_id`."""
    with db.sessions() as session:
        if last_event_id:
            seq = session.scalar(
                select(Event.seq).where(Event.id == last_event_id, Event.user_id == user_id)
            )
            if seq is None:
                raise ValidationFailed(fields={"Last-Event-ID": "not an event id of this stream"})
        else:
            seq = session.scalar(select(User.event_seq).where(User.id == user_id)) or 0
    subscription = _start(hub, place, user_channel(user_id), limit)
    return Stream(
        _follow_events(db, subscription, place, user_id, seq, heartbeat), subscription, place
    )


def _follow_events(
    db: Database,
    subscription: Subscription,
    place: StreamPlace,
    user_id: str,
    after: int,
    heartbeat: float,
) -> Iterator[StreamEvent]:
    yield HEARTBEAT  # tells the client at once that the stream is open
    while True:
        with db.sessions() as session:
            rows = session.execute(
                select(Event.id, Event.type, Event.seq, Event.payload)
                .where(Event.user_id == user_id, Event.seq > after)
                .order_by(Event.seq)
                .limit(100)
            ).all()
        for row in rows:
            after = row.seq
            yield StreamEvent(id=row.id, event=row.type, data=row.payload)
        if len(rows) == 100:
            continue  # a backlog: read on before waiting
        if not (yield from _pause(subscription, place, heartbeat)):
            return

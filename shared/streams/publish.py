"""Publish status changes to Redis strictly after their transaction commits.

`transition` notes each change on the session (`note_status_change`); an `after_commit`
listener on the process's session factory publishes the notes, and a rollback discards them.
Publishing is best effort: the purchase is already committed, and a stream that misses the
message finds the change in PostgreSQL at its next heartbeat.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

PREFIX = "paylink:stream:"
PATTERN = PREFIX + "*"
_NOTES = "paylink.status_changes"


def purchase_channel(purchase_id: str) -> str:
    """The pub/sub channel of one purchase's status changes."""
    return f"{PREFIX}purchase:{purchase_id}"


def user_channel(user_id: str) -> str:
    """The pub/sub channel of all of one user's purchase events."""
    return f"{PREFIX}user:{user_id}"


def note_status_change(session: Session, *, purchase_id: str, user_id: str, status: str) -> None:
    """Remember a status change made in this session's transaction, to publish after commit."""
    session.info.setdefault(_NOTES, []).append((purchase_id, user_id, status))


def install_publisher(sessions: sessionmaker, client: Callable[[], redis.Redis]) -> None:
    """Publish what each committed transaction of `sessions` noted, through `client()`."""

    @event.listens_for(sessions, "after_commit")
    def publish_noted(session: Session) -> None:
        notes = session.info.pop(_NOTES, None)
        if notes:
            publish(client, notes)

    @event.listens_for(sessions, "after_rollback")
    def forget_noted(session: Session) -> None:
        session.info.pop(_NOTES, None)


def publish(client: Callable[[], redis.Redis], notes: list[tuple[str, str, str]]) -> None:
    """Send one message per change to its purchase's and its user's channels; never raise."""
    try:
        pipe = client().pipeline(transaction=False)
        for purchase_id, user_id, status in notes:
            message = json.dumps({"purchase_id": purchase_id, "status": status})
            pipe.publish(purchase_channel(purchase_id), message)
            pipe.publish(user_channel(user_id), message)
        pipe.execute()
    except Exception:  # noqa: BLE001 - committed already; streams re-read PostgreSQL anyway
        log.warning("could not publish %d status change(s) to live streams", len(notes))

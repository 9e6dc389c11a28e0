"""Client idempotency keys, the Stripe way, enforced by the table's primary key.

A first request claims its key (an INSERT that commits before any work); a concurrent duplicate
finds the claim and gets 409; a later duplicate with the same body gets the stored response; a
different body gets 422. The response is stored in the same transaction as the work it
describes, so a key never points at work that did not happen. A claim whose holder crashed is
taken over once its lock lapses.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from shared.db import Database, utcnow
from shared.errors import IdempotencyInProgress, IdempotencyKeyReused
from shared.models import IdempotencyKey

LOCK = timedelta(seconds=60)
KEEP = timedelta(hours=72)  # the contract promises at least 24 h


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


def request_hash(body: Any) -> str:
    """Fingerprint a JSON request body independently of key order and whitespace."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(db: Database, *, user_id: str, key: str, fingerprint: str) -> StoredResponse | None:
    """Claim `key` for this request; return the stored response if it already has one."""
    now = utcnow()
    with db.transaction() as session:
        inserted = session.execute(
            insert(IdempotencyKey)
            .values(user_id=user_id, key=key, request_hash=fingerprint, locked_until=now + LOCK)
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        ).first()
        if inserted:
            return None
        row = session.execute(
            select(IdempotencyKey)
            .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
            .with_for_update()
        ).scalar_one()
        if row.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        if row.response_status is not None and row.response_body is not None:
            return StoredResponse(row.response_status, row.response_body)
        if row.locked_until is not None and row.locked_until > now:
            raise IdempotencyInProgress()
        row.locked_until = now + LOCK
        return None


def complete(
    session: Session,
    *,
    user_id: str,
    key: str,
    status: int,
    body: dict[str, Any],
    purchase_id: str | None = None,
) -> None:
    """Store the response in the caller's transaction, with the work it describes."""
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .values(
            response_status=status, response_body=body, purchase_id=purchase_id, locked_until=None
        )
    )


def abandon(db: Database, *, user_id: str, key: str) -> None:
    """Drop a claim whose request failed before doing anything, so it can be retried."""
    with db.transaction() as session:
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id,
                IdempotencyKey.key == key,
                IdempotencyKey.response_status.is_(None),
            )
        )


def purge_expired(db: Database) -> int:
    """Delete keys older than the retention window; return how many."""
    with db.transaction() as session:
        result = session.connection().execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - KEEP)
        )
        return result.rowcount

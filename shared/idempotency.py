"""Client idempotency keys, the Stripe way, enforced by the table's primary key.

A first request claims its key (an INSERT that commits before any work); a concurrent duplicate
finds the claim and gets 409; a later duplicate with the same body gets the stored response; a
different body gets 422. (A new purchase key is usually claimed by the accept's own statement
instead, with the work and its answer at once: `shared.purchases.acceptance`. A duplicate of
it waits for that statement and then gets the stored response; anything that finds its key
there comes here.) The response is stored in the same transaction as the work it
describes, so a key never points at work that did not happen. A claim whose holder crashed is
taken over once its lock lapses; each claim carries a fencing token, so a slow first holder
that wakes up after a takeover can neither store its response nor give the key up — its work
rolls back instead of becoming a second purchase.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from shared.db import Database, utcnow
from shared.errors import IdempotencyInProgress, IdempotencyKeyReused
from shared.models import IdempotencyKey

# Printable ASCII without a space at either end (header values are trimmed in transit).
KEY_PATTERN = r"^[!-~](?:[ -~]{0,253}[!-~])?$"
LOCK = timedelta(seconds=60)
KEEP = timedelta(hours=72)  # the contract promises at least 24 h


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Claim:
    """The right to answer one key, until it is taken over."""

    user_id: str
    key: str
    token: str


def valid_key(key: str) -> bool:
    """Say whether an Idempotency-Key has the documented form (1-255 printable characters)."""
    return re.match(KEY_PATTERN, key) is not None


def request_hash(body: Any) -> str:
    """Fingerprint a JSON request body independently of key order and whitespace."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


_KEYS = cast(Table, IdempotencyKey.__table__)
# Built once: claiming a key and storing its response are on every accept's path.
_CLAIM = insert(_KEYS).on_conflict_do_nothing().returning(_KEYS.c.key)


def claim(db: Database, *, user_id: str, key: str, fingerprint: str) -> StoredResponse | Claim:
    """Claim `key` for this request, or return the response it already has."""
    now = utcnow()
    mine = Claim(user_id, key, secrets.token_hex(16))
    # A new key (the usual case) is one INSERT that commits by itself.
    with db.autocommit() as conn:
        inserted = conn.execute(
            _CLAIM,
            {
                "user_id": user_id,
                "key": key,
                "request_hash": fingerprint,
                "locked_until": now + LOCK,
                "claim_token": mine.token,
                "created_at": now,
            },
        ).first()
    if inserted:
        return mine
    with db.transaction() as session:
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
        row.claim_token = mine.token
        return mine


def _held(claim: Claim) -> Any:
    return (
        (IdempotencyKey.user_id == claim.user_id)
        & (IdempotencyKey.key == claim.key)
        & (IdempotencyKey.claim_token == claim.token)
        & IdempotencyKey.response_status.is_(None)
    )


_COMPLETE = (
    update(_KEYS)
    .where(
        _KEYS.c.user_id == bindparam("claim_user"),
        _KEYS.c.key == bindparam("claim_key"),
        _KEYS.c.claim_token == bindparam("claim_token_"),
        _KEYS.c.response_status.is_(None),
    )
    .values(
        response_status=bindparam("status"),
        response_body=bindparam("body", type_=_KEYS.c.response_body.type),
        purchase_id=bindparam("purchase"),
        locked_until=None,
    )
    .returning(_KEYS.c.key)
)


def complete(
    session: Session,
    claim: Claim,
    *,
    status: int,
    body: dict[str, Any],
    purchase_id: str | None = None,
) -> None:
    """Store the response in the caller's transaction, with the work it describes.

    Raises IdempotencyInProgress when the claim was taken over meanwhile; the caller's
    transaction then rolls back, so the key names exactly one piece of work.
    """
    stored = (
        session.connection()
        .execute(
            _COMPLETE,
            {
                "claim_user": claim.user_id,
                "claim_key": claim.key,
                "claim_token_": claim.token,
                "status": status,
                "body": body,
                "purchase": purchase_id,
            },
        )
        .first()
    )
    if stored is None:
        raise IdempotencyInProgress()


def abandon(db: Database, claim: Claim) -> None:
    """Give up a claim whose request failed before doing anything, so it can be retried."""
    with db.transaction() as session:
        session.execute(delete(IdempotencyKey).where(_held(claim)))


def purge_expired(db: Database) -> int:
    """Delete keys older than the retention window; return how many."""
    with db.transaction() as session:
        result = session.connection().execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - KEEP)
        )
        return result.rowcount

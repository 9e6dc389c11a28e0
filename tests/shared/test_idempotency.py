"""Idempotency keys: kept at least 24 hours, purged after the retention window."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from shared import idempotency
from shared.db import utcnow
from shared.models import IdempotencyKey


def test_keys_outlive_a_day_and_are_purged_after_retention(runtime, make_user):
    user = make_user()
    keys = {}
    for age_hours in (25, 80):
        key = uuid.uuid4().hex
        idempotency.claim(runtime.db, user_id=user.id, key=key, fingerprint="h")
        with runtime.db.transaction() as session:
            session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key == key)
                .values(created_at=utcnow() - timedelta(hours=age_hours))
            )
        keys[age_hours] = key
    idempotency.purge_expired(runtime.db)
    with runtime.db.sessions() as session:
        left = set(
            session.execute(
                select(IdempotencyKey.key).where(IdempotencyKey.user_id == user.id)
            ).scalars()
        )
    assert left == {keys[25]}


def test_request_hash_ignores_key_order():
    assert idempotency.request_hash({"a": 1, "b": "2"}) == idempotency.request_hash(
        {"b": "2", "a": 1}
    )
    assert idempotency.request_hash({"a": 1}) != idempotency.request_hash({"a": "1"})

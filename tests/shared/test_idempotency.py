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


def test_a_slow_first_request_cannot_add_a_second_purchase_after_a_takeover(runtime, make_user):
    """A's lock lapses while it prices; retry B takes over and buys; A must then keep nothing.

    Only the claim-first path holds a claim while it prices (a new key is priced before it is
    claimed, in one statement), so A takes that path, as a request that finds its key there.
    """
    from decimal import Decimal

    import pytest

    from shared import ledger
    from shared.errors import IdempotencyInProgress
    from shared.models import Purchase
    from shared.products import PRODUCTS
    from shared.purchases import acceptance
    from shared.purchases.acceptance import accept_purchase
    from shared.purchases.execution import Timing
    from shared.purchases.pricing import PricedPurchase, PurchaseRequest

    user = make_user()
    with runtime.db.transaction() as session:
        ledger.credit(session, user_id=user.id, amount=Decimal("1000"), reference="t", actor="t")
    key = uuid.uuid4().hex
    request = PurchaseRequest(service_id="mtn", phone="08011111111", amount=Decimal("100"))
    priced = PricedPurchase(
        PRODUCTS["mtn"], Decimal("100.00"), "08011111111", None, None, None, None
    )

    def accept(price):
        return accept_purchase(
            runtime.db,
            user_id=user.id,
            idempotency_key=key,
            raw_body={"a": 1},
            request=request,
            price=price,
            timing=Timing(),
        )

    def slow_price(_):
        with runtime.db.transaction() as session:  # A's lock lapses...
            session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key == key)
                .values(locked_until=utcnow() - timedelta(seconds=1))
            )
        retry = accept(lambda _: priced)  # ...and the client's retry B takes the key over
        assert retry.status == 202
        return priced

    with pytest.raises(IdempotencyInProgress):
        acceptance._accept_claiming_first(
            runtime.db,
            user_id=user.id,
            key=key,
            fingerprint=idempotency.request_hash({"a": 1}),
            request=request,
            price=slow_price,
            timing=Timing(),
        )
    with runtime.db.sessions() as session:
        purchases = (
            session.execute(select(Purchase).where(Purchase.user_id == user.id)).scalars().all()
        )
    assert len(purchases) == 1
    replay = accept(lambda _: priced)
    assert (replay.status, replay.purchase_id) == (202, purchases[0].id)

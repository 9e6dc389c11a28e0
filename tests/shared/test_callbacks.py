"""VTPass notices by type: transaction-update names a purchase, variations-update drops plans."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from shared import callbacks, ledger
from shared.cache import CacheState
from shared.models import Purchase, VTPassCallback
from shared.products import PRODUCTS
from shared.purchases.acceptance import accept_purchase
from shared.purchases.execution import Timing
from shared.purchases.pricing import PricedPurchase, PurchaseRequest

TIMING = Timing(queued_grace=timedelta(hours=1), publish_lease=timedelta(hours=1))


@pytest.fixture
def pending_purchase(runtime, make_user):
    """Make a pending purchase (no worker touches it) with the request_id given."""

    def make(request_id: str | None = None) -> Purchase:
        user = make_user()
        with runtime.db.transaction() as session:
            ledger.credit(
                session, user_id=user.id, amount=Decimal(500), reference=uuid.uuid4().hex, actor="t"
            )
        purchase_id = accept_purchase(
            runtime.db,
            user_id=user.id,
            idempotency_key=uuid.uuid4().hex,
            raw_body={},
            request=PurchaseRequest(service_id="mtn", phone="08011111111", amount=Decimal(100)),
            price=lambda r: PricedPurchase(
                PRODUCTS["mtn"], Decimal("100.00"), "08011111111", None, None, None, None
            ),
            timing=TIMING,
        ).purchase_id
        values: dict = {"status": "pending"}
        if request_id is not None:
            values["request_id"] = request_id
        with runtime.db.transaction() as session:
            session.execute(update(Purchase).where(Purchase.id == purchase_id).values(**values))
        return load(runtime, purchase_id)

    return make


def load(runtime, purchase_id: str) -> Purchase:
    with runtime.db.sessions() as session:
        return session.get(Purchase, purchase_id)


def stored(runtime, body_marker: str) -> VTPassCallback:
    with runtime.db.sessions() as session:
        return session.execute(
            select(VTPassCallback).where(VTPassCallback.body["marker"].astext == body_marker)
        ).scalar_one()


def receive(runtime, body) -> str | None:
    return callbacks.receive_notice(runtime.db, runtime.catalog, body)


def warm(runtime, service_id: str) -> None:
    runtime.catalog.variations(service_id)
    assert runtime.catalog.variations(service_id)[1] is CacheState.HIT


@pytest.mark.parametrize("kind", ["variations-update", "variation-update", "Variations_Update"])
def test_variations_update_drops_that_services_plans_only(runtime, kind):
    warm(runtime, "dstv")
    warm(runtime, "gotv")
    marker = uuid.uuid4().hex
    assert receive(runtime, {"type": kind, "data": {"serviceID": "dstv"}, "marker": marker}) is None
    assert runtime.catalog.variations("dstv")[1] is CacheState.MISS
    assert runtime.catalog.variations("gotv")[1] is CacheState.HIT
    row = stored(runtime, marker)
    assert row.request_id is None and row.handled_at is not None


def test_variations_update_naming_no_service_drops_every_services_plans(runtime):
    warm(runtime, "dstv")
    warm(runtime, "mtn-data")
    assert receive(runtime, {"type": "variations-update", "data": {}}) is None
    assert runtime.catalog.variations("dstv")[1] is CacheState.MISS
    assert runtime.catalog.variations("mtn-data")[1] is CacheState.MISS


def test_variations_update_listing_several_services(runtime):
    warm(runtime, "dstv")
    warm(runtime, "gotv")
    warm(runtime, "showmax")
    body = {"type": "variations-update", "data": [{"serviceID": "dstv"}, {"serviceID": "gotv"}]}
    receive(runtime, body)
    states = [runtime.catalog.variations(s)[1] for s in ("dstv", "gotv", "showmax")]
    assert states == [CacheState.MISS, CacheState.MISS, CacheState.HIT]


def test_variations_update_never_requeries_or_touches_a_purchase(runtime, pending_purchase):
    purchase = pending_purchase()
    body = {
        "type": "variations-update",
        "data": {"serviceID": "mtn", "requestId": purchase.request_id},
    }
    assert receive(runtime, body) is None
    after = load(runtime, purchase.id)
    assert (after.status, after.version, after.updated_at) == (
        purchase.status,
        purchase.version,
        purchase.updated_at,
    )
    assert callbacks.unhandled(runtime.db, older_than=timedelta(0)).count(purchase.id) == 0


def test_other_notice_types_are_stored_and_do_nothing(runtime, pending_purchase):
    purchase = pending_purchase()
    marker = uuid.uuid4().hex
    body = {"type": "balance-alert", "data": {"requestId": purchase.request_id}, "marker": marker}
    assert receive(runtime, body) is None
    assert stored(runtime, marker).handled_at is not None
    assert load(runtime, purchase.id).version == purchase.version


def test_transaction_update_names_the_purchase_to_requery(runtime, pending_purchase):
    purchase = pending_purchase()
    body = {"type": "transaction-update", "data": {"requestId": purchase.request_id}}
    assert receive(runtime, body) == purchase.id


def test_a_notice_without_a_type_is_a_transaction_update(runtime, pending_purchase):
    purchase = pending_purchase()
    assert receive(runtime, {"requestId": purchase.request_id, "code": "000"}) == purchase.id


@pytest.mark.parametrize("legacy_id", ["REC123562", "2019081835422", "1575206773482"])
def test_an_older_request_id_without_a_date_prefix_matches_exactly(
    runtime, pending_purchase, legacy_id
):
    legacy_id = f"{legacy_id}{uuid.uuid4().hex[:6]}"
    purchase = pending_purchase(legacy_id)
    body = {"type": "transaction-update", "data": {"requestId": legacy_id}}
    assert receive(runtime, body) == purchase.id
    assert receive(runtime, {"type": "transaction-update", "data": {"requestId": "REC"}}) is None


def test_the_older_query_format_names_its_request_id_in_content(runtime, pending_purchase):
    purchase = pending_purchase()
    body = {
        "type": "transaction-update",
        "data": {
            "code": "001",
            "content": {"requestId": purchase.request_id, "response_code": "000"},
        },
    }
    assert receive(runtime, body) == purchase.id

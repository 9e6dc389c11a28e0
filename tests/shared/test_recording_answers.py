"""A VTPass answer is never thrown away because the database pool was busy (issue 9, item 5).

Recording runs after the VTPass call; the answer exists nowhere else. Real PostgreSQL: a
pool of one connection is held by someone else while the answer arrives, then freed.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from shared import ledger
from shared.db import Database
from shared.models import Journal, Purchase
from shared.products import PRODUCTS
from shared.purchases import execution
from shared.purchases.acceptance import accept_purchase
from shared.purchases.execution import Next, Timing
from shared.purchases.pricing import PricedPurchase, PurchaseRequest
from shared.vtpass import Outcome, OutcomeKind

TIMING = Timing(queued_grace=timedelta(hours=1), publish_lease=timedelta(hours=1))
WAIT = 30.0


class Flag(logging.Handler):
    """Set an event when the execution module says it will retry recording."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retrying = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "could not record" in record.getMessage():
            self.retrying.set()


@pytest.fixture
def flag():
    handler = Flag()
    logger = logging.getLogger(execution.__name__)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def tiny_pool(runtime):
    db = Database(runtime.settings.database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    yield db
    db.dispose()


@pytest.fixture
def queued(runtime, make_user):
    user = make_user()
    with runtime.db.transaction() as session:
        ledger.credit(
            session, user_id=user.id, amount=Decimal(1000), reference=uuid.uuid4().hex, actor="t"
        )
    return accept_purchase(
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


class PoolHoggingVTPass:
    """Deliver, but take the pool's only connection during the call (as other threads would)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.held = None

    def pay(self, **_: object) -> Outcome:
        self.held = self._db.engine.connect()
        return Outcome(
            kind=OutcomeKind.DELIVERED, code="000", description="ok", transaction_id="17415"
        )


def test_an_answer_is_recorded_once_a_saturated_pool_frees(runtime, queued, tiny_pool, flag):
    vtpass = PoolHoggingVTPass(tiny_pool)
    result: dict[str, object] = {}

    def pay() -> None:
        try:
            result["next"] = execution.pay_purchase(tiny_pool, vtpass, queued, timing=TIMING)
        except Exception as exc:  # noqa: BLE001 - the assertion below says what happened
            result["error"] = exc

    worker = threading.Thread(target=pay)
    worker.start()
    give_up = time.monotonic() + WAIT
    while not flag.retrying.is_set() and worker.is_alive() and time.monotonic() < give_up:
        flag.retrying.wait(0.05)
    assert flag.retrying.is_set(), f"recording was not retried: {result}"
    vtpass.held.close()  # the pool frees
    worker.join(WAIT)
    assert result == {"next": Next.NOTHING}
    with runtime.db.sessions() as session:
        purchase = session.get(Purchase, queued)
        assert purchase.status == "delivered"
        kinds = session.execute(select(Journal.kind).where(Journal.purchase_id == queued)).scalars()
        assert sorted(kinds) == ["capture", "hold"]


def test_recording_gives_up_after_its_budget_and_leaves_the_purchase_to_the_sweeper(
    runtime, queued, tiny_pool
):
    vtpass = PoolHoggingVTPass(tiny_pool)
    short = Timing(
        queued_grace=timedelta(hours=1),
        publish_lease=timedelta(hours=1),
        record_budget=timedelta(seconds=0.5),
    )
    try:
        with pytest.raises(Exception, match="QueuePool"):
            execution.pay_purchase(tiny_pool, vtpass, queued, timing=short)
    finally:
        vtpass.held.close()
    with runtime.db.sessions() as session:
        assert session.get(Purchase, queued).status == "processing"


def test_the_pool_holds_a_connection_for_every_worker_thread(settings):
    from shared.runtime import Runtime

    runtime = Runtime(settings.with_overrides(worker_concurrency=150))
    pool = runtime.db.engine.pool
    runtime.close()
    assert pool.size() + pool._max_overflow >= 150  # type: ignore[attr-defined]

"""The reconciliation's beat entries and task (workers/tasks.py), and its settings."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from celery.schedules import crontab
from sqlalchemy import update

from shared import ledger
from shared.config import ConfigError
from shared.db import utcnow
from shared.models import FloatReading, ReconciliationRun
from shared.products import PRODUCTS
from shared.purchases import execution
from shared.purchases.acceptance import accept_purchase
from shared.purchases.pricing import PricedPurchase, PurchaseRequest
from shared.reconcile import Pacer, reconcile
from shared.reconcile.run import exclusive
from workers.celery_app import celery_config
from workers.tasks import reconcile_with_vtpass


def test_the_beat_reconciles_daily_at_a_time_of_day_and_resumes_every_ten_minutes(settings):
    schedule = celery_config(settings.with_overrides(reconcile_at_utc="03:45"))["beat_schedule"]
    daily = schedule["reconcile-with-vtpass"]
    assert daily["task"] == "maintenance.reconcile"
    assert daily["schedule"] == crontab(hour=3, minute=45)
    resume = schedule["resume-reconciliation"]
    assert (resume["task"], resume["schedule"], resume["kwargs"]) == (
        "maintenance.reconcile",
        600.0,
        {"resume_only": True},
    )


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"reconcile_requests_per_s": 0.0}, "PAYLINK_RECONCILE_REQUESTS_PER_S"),
        ({"reconcile_requests_per_s": float("nan")}, "PAYLINK_RECONCILE_REQUESTS_PER_S"),
        ({"reconcile_at_utc": "25:00"}, "PAYLINK_RECONCILE_AT_UTC"),
        ({"reconcile_at_utc": "1am"}, "PAYLINK_RECONCILE_AT_UTC"),
        ({"reconcile_window_h": 0.0}, "PAYLINK_RECONCILE_WINDOW_H"),
    ],
)
def test_bad_reconciliation_settings_are_refused(settings, change, complaint):
    with pytest.raises(ConfigError, match=complaint):
        settings.with_overrides(**change).validate()


@pytest.fixture
def two_delivered(runtime, make_user, simulator):
    simulator.control("POST", "config", BALANCE=100_000_000)
    with runtime.db.transaction() as session:
        session.add(FloatReading(balance=Decimal("100000000"), checked_at=utcnow()))
    since, ids, amount = utcnow(), [], Decimal("100.00")
    for _ in range(2):
        user = make_user()
        with runtime.db.transaction() as session:
            ledger.credit(
                session,
                user_id=user.id,
                amount=Decimal("500"),
                reference=uuid.uuid4().hex,
                actor="test",
            )
        purchase_id = accept_purchase(
            runtime.db,
            user_id=user.id,
            idempotency_key=uuid.uuid4().hex,
            raw_body={},
            request=PurchaseRequest(service_id="mtn", phone="08011111111", amount=amount),
            price=lambda r: PricedPurchase(
                PRODUCTS["mtn"], amount, "08011111111", None, None, None, None
            ),
            timing=runtime.timing,
        ).purchase_id
        execution.pay_purchase(runtime.db, runtime.vtpass, purchase_id, timing=runtime.timing)
        ids.append(purchase_id)
    yield since, ids
    with runtime.db.transaction() as session:
        session.execute(
            update(ReconciliationRun)
            .where(ReconciliationRun.status == "running")
            .values(status="completed", finished_at=utcnow())
        )


def test_the_resume_task_finishes_a_run_left_unfinished(runtime, two_delivered):
    since, ids = two_delivered
    [left] = reconcile(
        runtime.db,
        runtime.vtpass,
        since=since,
        started_by="test",
        timing=runtime.timing,
        pacer=Pacer(1000.0),
        limit=0,
    )
    assert left.status == "running"
    assert reconcile_with_vtpass.apply(kwargs={"resume_only": True}).get() == {left.id: "completed"}
    # Nothing left to resume: the resume entry does nothing.
    assert reconcile_with_vtpass.apply(kwargs={"resume_only": True}).get() == {}


def test_the_task_stands_aside_while_another_run_holds_the_lock(runtime):
    with exclusive(runtime.db):
        result = reconcile_with_vtpass.apply(kwargs={"resume_only": True}).get()
    assert result == {"skipped": "another reconciliation is running"}

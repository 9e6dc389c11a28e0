"""The reconciliation's beat entries and task (workers/tasks.py), and its settings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from celery.schedules import crontab
from sqlalchemy import delete, select, update

from shared import ledger
from shared.config import ConfigError
from shared.db import utcnow
from shared.models import AuditEntry, FloatReading, ReconciliationRun
from shared.products import PRODUCTS
from shared.purchases import execution
from shared.purchases.acceptance import accept_purchase
from shared.purchases.pricing import PricedPurchase, PurchaseRequest
from shared.reconcile import Pacer, next_window_start, reconcile
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
        ({"reconcile_recheck_days": -1.0}, "PAYLINK_RECONCILE_RECHECK_DAYS"),
        ({"reconcile_recheck_days": float("nan")}, "PAYLINK_RECONCILE_RECHECK_DAYS"),
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
    # (A worker another test left running may finish more purchases inside the window.)
    with runtime.db.sessions() as session:
        assert session.get(ReconciliationRun, left.id).checked >= len(ids)
        recorded = (
            session.execute(
                select(AuditEntry.purchase_id).where(
                    AuditEntry.actor == f"reconciliation:{left.id}"
                )
            )
            .scalars()
            .all()
        )
    assert all(recorded.count(i) == 1 for i in ids)
    # Nothing left to resume: the resume entry does nothing.
    assert reconcile_with_vtpass.apply(kwargs={"resume_only": True}).get() == {}


def test_the_task_stands_aside_while_another_run_holds_the_lock(runtime):
    with exclusive(runtime.db):
        result = reconcile_with_vtpass.apply(kwargs={"resume_only": True}).get()
    assert result == {"skipped": "another reconciliation is running"}


@pytest.fixture
def far_future_run(runtime):
    """Make a run whose window ends at `end` (after every real one); deleted afterwards."""
    made: list[str] = []

    def make(end: datetime, *, started_by: str = "beat", hours: float = 25) -> None:
        with runtime.db.transaction() as session:
            run = ReconciliationRun(
                status="completed",
                window_start=end - timedelta(hours=hours),
                window_end=end,
                started_by=started_by,
                finished_at=end,
            )
            session.add(run)
            session.flush()
            made.append(run.id)

    yield make
    with runtime.db.transaction() as session:
        session.execute(delete(ReconciliationRun).where(ReconciliationRun.id.in_(made)))


FUTURE = datetime(2031, 1, 10, 1, 0, tzinfo=UTC)


def test_the_next_window_reaches_back_to_where_the_last_run_ended(runtime, far_future_run):
    # Yesterday's run: the usual 25 hours.
    far_future_run(FUTURE - timedelta(hours=24))
    assert next_window_start(runtime.db, now=FUTURE, hours=25) == FUTURE - timedelta(hours=25)
    # A day missed (the beat was down): the next run covers it too, with an hour's overlap.
    far_future_run(FUTURE + timedelta(days=2))
    later = FUTURE + timedelta(days=4)
    assert next_window_start(runtime.db, now=later, hours=25) == (
        FUTURE + timedelta(days=2) - timedelta(hours=1)
    )
    # Never more than a week back.
    much_later = FUTURE + timedelta(days=30)
    assert next_window_start(runtime.db, now=much_later, hours=25) == much_later - timedelta(days=7)


def test_a_short_manual_run_never_hides_a_day_the_beat_missed(runtime, far_future_run):
    """The watermark is the beat's contiguous coverage, not any run's window end."""
    day = FUTURE + timedelta(days=50)
    far_future_run(day)  # the beat's run at 01:00
    # The next day's beat run never happened; an operator ran `--since 1h` at 10:00.
    far_future_run(day + timedelta(hours=34), started_by="cli", hours=1)
    now = day + timedelta(hours=48)
    assert next_window_start(runtime.db, now=now, hours=25) == day - timedelta(hours=1)


def test_a_time_limit_leaves_the_run_to_be_resumed(runtime, two_delivered):
    since, ids = two_delivered
    [left] = reconcile(
        runtime.db,
        runtime.vtpass,
        since=since,
        started_by="test",
        timing=runtime.timing,
        pacer=Pacer(1000.0),
        time_limit_s=0.0,
    )
    assert (left.status, left.checked) == ("running", 0)
    [done] = reconcile(
        runtime.db,
        runtime.vtpass,
        since=None,
        started_by="test",
        timing=runtime.timing,
        pacer=Pacer(1000.0),
    )
    assert (done.id, done.status) == (left.id, "completed") and done.checked >= len(ids)


def test_a_daily_call_that_only_resumed_hands_on_as_a_daily_call(
    runtime, two_delivered, monkeypatch
):
    """The day's own run is not lost behind an unfinished one: the next slice is daily too."""
    import workers.tasks as tasks

    since, _ids = two_delivered
    [left] = reconcile(
        runtime.db,
        runtime.vtpass,
        since=since,
        started_by="test",
        timing=runtime.timing,
        pacer=Pacer(1000.0),
        limit=0,
    )
    handed_on: list[dict] = []
    monkeypatch.setattr(tasks, "RECONCILE_SLICE_S", 0.0)
    monkeypatch.setattr(reconcile_with_vtpass, "delay", lambda **kw: handed_on.append(kw))
    assert reconcile_with_vtpass.apply(kwargs={"resume_only": False}).get() == {left.id: "running"}
    assert handed_on == [{"resume_only": False}]
    handed_on.clear()
    assert reconcile_with_vtpass.apply(kwargs={"resume_only": True}).get() == {left.id: "running"}
    assert handed_on == [{"resume_only": True}]


def test_a_daily_call_that_finds_the_lock_held_asks_again_later(runtime, monkeypatch):
    asked: list[dict] = []
    monkeypatch.setattr(reconcile_with_vtpass, "apply_async", lambda **kw: asked.append(kw))
    with exclusive(runtime.db):
        result = reconcile_with_vtpass.apply(kwargs={"resume_only": False}).get()
    assert result == {"skipped": "another reconciliation is running"}
    assert asked == [{"kwargs": {"resume_only": False}, "countdown": 600}]

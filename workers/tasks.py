"""Celery tasks: thin, named, routed to their queues; each takes ids and calls one service."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from celery import shared_task
from flask import current_app

from shared import float as vtfloat
from shared import idempotency
from shared import reconcile as reconciliation
from shared.callbacks import followups
from shared.db import utcnow
from shared.purchases import execution, sweeper
from shared.purchases.execution import Next
from shared.runtime import Runtime
from shared.webhooks.events import take_recorded_deliveries
from workers.celery_app import RETRY_BACKOFF_MAX
from workers.publish import PAY, REQUERY, publish_due_webhooks, publish_pay, publish_requery

log = logging.getLogger(__name__)


class PayNotSent(Exception):
    """The pay request never left (connection refused); Celery retries it with backoff."""


def _runtime() -> Runtime:
    return current_app.extensions["paylink"]


@shared_task(
    name=PAY,
    autoretry_for=(PayNotSent,),
    retry_backoff=1,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=10,
)
def pay(purchase_id: str) -> None:
    """Buy a queued purchase from VTPass."""
    rt = _runtime()
    after = execution.pay_purchase(
        rt.db,
        rt.vtpass,
        purchase_id,
        timing=rt.timing,
        on_insufficient_funds=check_vtpass_float.delay,
    )
    if take_recorded_deliveries():
        publish_due_webhooks()
    if after is Next.RETRY_PAY:
        raise PayNotSent(purchase_id)
    if after is Next.PAY_AGAIN:
        publish_pay(purchase_id)


@shared_task(name=REQUERY)
def requery(purchase_id: str) -> None:
    """Ask VTPass for the outcome of a pending purchase."""
    rt = _runtime()
    after = execution.requery_purchase(rt.db, rt.vtpass, purchase_id, timing=rt.timing)
    if take_recorded_deliveries():
        publish_due_webhooks()
    if after is Next.PAY_AGAIN:
        publish_pay(purchase_id)


@shared_task(name="maintenance.sweep_purchases")
def sweep_purchases() -> dict[str, int]:
    """Re-drive every purchase whose next step is due."""
    rt = _runtime()
    due = sweeper.sweep(rt.db, timing=rt.timing)
    for purchase_id in due.pay:
        publish_pay(purchase_id)
    for purchase_id in due.requery:
        publish_requery(purchase_id)
    # A VTPass notice no requery has settled yet (a lost publish, a requery that timed out,
    # VTPass still saying "delivered") is followed up here on its own bounded schedule.
    for purchase_id in followups.due(
        rt.db, first_after=rt.timing.publish_lease, delays=rt.timing.requery_delays
    ):
        if purchase_id not in due.requery:
            publish_requery(purchase_id)
    return {"pay": len(due.pay), "requery": len(due.requery), "recovered": len(due.recovered)}


@shared_task(name="maintenance.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Forget idempotency keys past their retention window."""
    return idempotency.purge_expired(_runtime().db)


@shared_task(name="maintenance.check_vtpass_float")
def check_vtpass_float() -> str:
    """Read the VTPass float; re-drive the purchases held for it that it can now pay."""
    rt = _runtime()
    reading = vtfloat.check_balance(rt.db, rt.vtpass, low=Decimal(str(rt.settings.float_low)))
    for purchase_id in vtfloat.waiting_purchases(rt.db, reading):
        publish_pay(purchase_id)
    return str(reading.balance)


# One task works on a run this long, then hands on to the next (a message unacked for 30 min
# makes RabbitMQ drop the worker's channel; Redis redelivers after the visibility timeout).
RECONCILE_SLICE_S = 240.0
# A daily run that found another holding the lock asks again this much later.
DAILY_RETRY_S = 600


@shared_task(name="maintenance.reconcile")
def reconcile_with_vtpass(resume_only: bool = False) -> dict[str, str]:
    """Requery the purchases that became final since the last run (or resume a killed run)."""
    rt = _runtime()
    s = rt.settings
    since = (
        None
        if resume_only
        else reconciliation.next_window_start(rt.db, now=utcnow(), hours=s.reconcile_window_h)
    )
    try:
        runs = reconciliation.reconcile(
            rt.db,
            rt.vtpass,
            since=since,
            started_by="beat",
            timing=rt.timing,
            pacer=reconciliation.Pacer(s.reconcile_requests_per_s),
            time_limit_s=RECONCILE_SLICE_S,
            recheck=timedelta(days=s.reconcile_recheck_days),
        )
    except reconciliation.RunInProgress:
        # Every ten minutes during a long run the resume entry lands here: that is normal.
        if not resume_only:
            # The day's run is not dropped: it is asked for again after the resume interval
            # (its window reaches back to the beat's watermark whenever it starts).
            log.warning(
                "the daily reconciliation did not start: another run is going on; trying again"
                " in %d s",
                DAILY_RETRY_S,
            )
            reconcile_with_vtpass.apply_async(
                kwargs={"resume_only": False}, countdown=DAILY_RETRY_S
            )
        return {"skipped": "another reconciliation is running"}
    # A purchase the reconciliation reversed may have a purchase.reversed event to deliver.
    if take_recorded_deliveries():
        publish_due_webhooks()
    if any(run.status == "running" for run in runs):
        # The next slice at once; if this publish is lost, the resume entry continues it.
        # A daily call that only got to resume an unfinished run hands on as a daily call,
        # so the day's own run starts once the old one is done.
        started = resume_only or any(not run.resumed for run in runs)
        reconcile_with_vtpass.delay(resume_only=started)
    return {run.id: run.status for run in runs}

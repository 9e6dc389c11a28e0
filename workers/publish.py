"""Publishing tasks from the edges, after commit; a failed publish is left to the sweeper."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app

from shared import logs
from shared.webhooks.delivery import lease_due_deliveries
from workers.celery_app import CONFIRM_TIMEOUT_S, REQUEST_ID_HEADER, is_amqp

log = logging.getLogger(__name__)

PAY = "purchases.pay"
REQUERY = "purchases.requery"
DELIVER_WEBHOOK = "webhooks.deliver"


def publish_pay(purchase_id: str) -> bool:
    """Queue the pay task for a purchase; return whether the broker took it."""
    return _publish(PAY, purchase_id)


def publish_requery(purchase_id: str) -> bool:
    """Queue a requery for a purchase; return whether the broker took it."""
    return _publish(REQUERY, purchase_id)


def publish_due_webhooks() -> int:
    """Lease every webhook delivery that is due now and queue an attempt for each.

    Called right after a status change commits (so a receiver hears within moments) and by
    the beat sweep (so a lost publish is retried once its lease lapses).
    """
    runtime = current_app.extensions["paylink"]
    lease = timedelta(seconds=runtime.settings.publish_lease_s)
    due = lease_due_deliveries(runtime.db, lease=lease)
    for delivery_id in due:
        _publish(DELIVER_WEBHOOK, delivery_id)
    return len(due)


def _publish(task_name: str, row_id: str) -> bool:
    # The app's own Celery (not a process-wide default), so every app publishes to its broker.
    try:
        celery = current_app.extensions["celery"]
        options: dict[str, object] = (
            {"confirm_timeout": CONFIRM_TIMEOUT_S} if is_amqp(celery) else {}
        )
        # The HTTP request id travels in the message headers to the worker's log lines.
        request_id = logs.current().get("request_id")
        headers = {REQUEST_ID_HEADER: request_id} if request_id else {}
        celery.send_task(task_name, args=(row_id,), retry=True, headers=headers, **options)
        return True
    except Exception:  # noqa: BLE001 - the row is committed; the sweeper will drive it
        log.warning("could not publish %s for %s; the sweeper will", task_name, row_id)
        return False
